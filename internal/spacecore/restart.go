package spacecore

import (
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Clock is the supervisor's time source; tests pass a fake one so backoff
// is driven without sleeping.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the supervisor uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer {
	return realTimer{time.NewTimer(d)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Backoff configures the delay before a restart by policy: Base doubled
// per consecutive quick failure, capped at Max; a run that lasted at least
// ResetAfter starts the count again.
type Backoff struct {
	Base       time.Duration
	Max        time.Duration
	ResetAfter time.Duration
}

// DefaultBackoff is Kubernetes' crash-loop shape with a faster start.
var DefaultBackoff = Backoff{Base: time.Second, Max: 5 * time.Minute, ResetAfter: 10 * time.Minute}

func (b *Backoff) fill() {
	if b.Base <= 0 {
		b.Base = DefaultBackoff.Base
	}
	if b.Max < b.Base {
		b.Max = max(DefaultBackoff.Max, b.Base)
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = DefaultBackoff.ResetAfter
	}
}

// Delay is the wait before restart number step+1 of a crash loop.
func (b Backoff) Delay(step int) time.Duration {
	d := b.Base
	for i := 0; i < step; i++ {
		if d >= b.Max/2 {
			return b.Max
		}
		d *= 2
	}
	return min(d, b.Max)
}

// shouldRestart applies a policy to an exit; a nil exit means the machine
// vanished (counted as a failure).
func shouldRestart(p RestartPolicy, ex *hypercore.ExitStatus) bool {
	switch p {
	case RestartAlways:
		return true
	case RestartNever:
		return false
	}
	return failed(ex)
}

func failed(ex *hypercore.ExitStatus) bool {
	return ex == nil || ex.Code != 0 || ex.Signal != 0 || ex.OOMKilled
}

// scheduleRestart decides, for a machine that ended with ex (nil: it
// vanished or could not be started) at now after running since
// rec.StartedAt, whether and when to restart it. It updates the backoff
// fields of rec and returns false when the policy says to stay down.
func (b Backoff) scheduleRestart(rec *Record, now time.Time, ex *hypercore.ExitStatus) bool {
	if !shouldRestart(rec.Restart, ex) {
		rec.RestartAt = time.Time{}
		return false
	}
	if !rec.StartedAt.IsZero() && now.Sub(rec.StartedAt) >= b.ResetAfter {
		rec.BackoffStep = 0
	}
	rec.RestartAt = now.Add(b.Delay(rec.BackoffStep))
	rec.BackoffStep++
	return true
}
