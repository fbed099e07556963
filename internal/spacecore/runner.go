package spacecore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// A runner is the one goroutine that acts for one spacecore: it owns the
// record's working copy, serialises API requests, machine exits and
// backoff timers, and after each drives the machine towards the desired
// state (converge). Because converge is level-triggered — it looks at the
// record and at the provider's view, not at what happened last — the same
// code finishes whatever a crashed daemon left half done.
type runner struct {
	id   string // fixed; r.rec belongs to the loop goroutine
	s    *Supervisor
	p    hypercore.Provider // nil when this node lacks the provider
	sink *sink
	log  *slog.Logger
	ops  chan op
	kick chan struct{} // buffered: resync asks for a converge
	done chan struct{}

	// Owned by the loop goroutine.
	rec        Record
	w          *watch // the current machine's waiter and log copier
	lastWait   *exitMsg
	timer      Timer
	restartDue bool
	reserved   bool
	adopting   bool // the first converge after Open: report adoptions
	finished   bool // removed, or a simulated crash
}

type opKind int

const (
	opConverge opKind = iota
	opCreate
	opStart
	opStop
	opRemove
)

type op struct {
	kind  opKind
	grace time.Duration
	reply chan error
}

type exitMsg struct {
	inc  int64
	exit hypercore.ExitStatus
	err  error
}

// errCrash is what test hooks return to simulate a crash at a step.
var errCrash = errors.New("simulated crash")

var errStopping = fmt.Errorf("%w: spacecore supervisor is stopping", hypercore.ErrUnavailable)

// startRunner registers and starts the runner of rec.
// With adopt, the runner first converges on its own (Open's reconcile).
func (s *Supervisor) startRunner(rec Record, p hypercore.Provider, reserved, adopt bool) (*runner, error) {
	k, err := openSink(s.logDir(rec.ID), s.opts.Logs, s.log)
	if err != nil {
		return nil, fmt.Errorf("spacecore %s: %w", rec.ID, err)
	}
	r := &runner{id: rec.ID, s: s, p: p, sink: k, log: s.log.With("spacecore", rec.ID, "name", rec.Name),
		ops: make(chan op), kick: make(chan struct{}, 1), done: make(chan struct{}), rec: rec, reserved: reserved, adopting: adopt}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		k.close(false)
		return nil, errStopping
	}
	s.runners[rec.ID] = r
	s.wg.Add(1)
	s.mu.Unlock()
	go r.loop()
	return r, nil
}

// call hands o to the loop and waits for its result. The work goes on
// when ctx ends first: the desired state is already persisted.
func (r *runner) call(ctx context.Context, o op) error {
	o.reply = make(chan error, 1)
	select {
	case r.ops <- o:
	case <-r.done:
		return fmt.Errorf("spacecore %s: %w", r.id, hypercore.ErrNotFound)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kill ends the runner as a crash would: nothing is cleaned up.
func (r *runner) kill() {
	select {
	case r.ops <- op{kind: -1, reply: make(chan error, 1)}:
	case <-r.done:
	}
}

func (r *runner) loop() {
	defer r.s.wg.Done()
	defer close(r.done)
	ctx := r.s.ctx
	defer func() {
		if r.timer != nil {
			r.timer.Stop()
		}
		r.unwatch(false)
		r.sink.close(false)
	}()
	if r.adopting {
		r.logErr(r.converge(ctx, r.s.opts.StopGrace))
	}
	for !r.finished {
		var fire <-chan time.Time
		if r.timer != nil {
			fire = r.timer.C()
		}
		select {
		case <-ctx.Done():
			return
		case o := <-r.ops:
			if o.kind < 0 {
				return
			}
			o.reply <- r.handle(ctx, o)
		case m := <-r.exitCh():
			if r.w != nil && m.inc == r.w.inc {
				r.lastWait = &m
				r.logErr(r.converge(ctx, r.s.opts.StopGrace))
			}
		case <-r.kick:
			r.logErr(r.converge(ctx, r.s.opts.StopGrace))
		case <-fire:
			r.timer, r.restartDue = nil, true
			r.logErr(r.converge(ctx, r.s.opts.StopGrace))
		}
	}
}

func (r *runner) exitCh() <-chan exitMsg {
	if r.w == nil {
		return nil
	}
	return r.w.exits
}

func (r *runner) logErr(err error) {
	if err != nil && !errors.Is(err, errCrash) && r.s.ctx.Err() == nil {
		r.log.Warn("converging spacecore", "err", err)
	}
}

// handle applies an API request: persist the new desired state, then act.
func (r *runner) handle(ctx context.Context, o op) error {
	grace := o.grace
	if grace <= 0 {
		grace = r.s.opts.StopGrace
	}
	switch o.kind {
	case opCreate:
		err := r.converge(ctx, grace)
		if err != nil && !errors.Is(err, errCrash) {
			// The caller gets the error; leave nothing behind.
			r.rec.Desired = DesiredDeleted
			r.rec.Generation++
			if perr := r.save(); perr != nil {
				return errors.Join(err, perr)
			}
			return errors.Join(err, r.converge(ctx, grace))
		}
		return err
	case opStart:
		if r.rec.Desired == DesiredRunning && (r.rec.Phase == PhaseRunning || r.rec.Phase == PhaseStarting) {
			return r.converge(ctx, grace)
		}
		if r.rec.Desired == DesiredDeleted {
			return fmt.Errorf("starting spacecore %s: %w: it is being removed", r.rec.ID, hypercore.ErrState)
		}
		r.rec.Desired, r.rec.BackoffStep, r.rec.RestartAt = DesiredRunning, 0, time.Time{}
	case opStop:
		if r.rec.Desired == DesiredDeleted {
			return fmt.Errorf("stopping spacecore %s: %w: it is being removed", r.rec.ID, hypercore.ErrState)
		}
		r.rec.Desired = DesiredStopped
	case opRemove:
		r.rec.Desired = DesiredDeleted
	}
	if o.kind != opConverge {
		r.rec.Generation++
		if err := r.save(); err != nil {
			return err
		}
		if err := r.s.hook(fmt.Sprintf("desired:%s", r.rec.Desired), r.rec.ID); err != nil {
			r.finished = true
			return err
		}
	}
	return r.converge(ctx, grace)
}

// save persists the working copy and publishes it to the cache.
func (r *runner) save() error {
	r.rec.UpdatedAt = r.s.clock.Now()
	if err := r.s.store.update(&r.rec); err != nil {
		return fmt.Errorf("saving spacecore %s: %w", r.rec.ID, err)
	}
	r.s.cache(&r.rec)
	return nil
}

// step runs a test hook; a simulated crash stops the runner dead.
func (r *runner) step(name string) error {
	if err := r.s.hook(name, r.rec.ID); err != nil {
		r.finished = true
		return err
	}
	return nil
}

// converge drives the machine towards the desired state.
func (r *runner) converge(ctx context.Context, grace time.Duration) error {
	if r.finished {
		return nil
	}
	var err error
	switch r.rec.Desired {
	case DesiredDeleted:
		err = r.remove(ctx, grace)
	case DesiredStopped:
		err = r.stop(ctx, grace)
	default:
		err = r.ensureRunning(ctx)
	}
	r.adopting = false
	return err
}

// observe asks the provider about the machine; missing is not an error.
func (r *runner) observe(ctx context.Context) (st hypercore.Status, missing bool, err error) {
	if r.p == nil {
		_, err = r.s.provider(r.rec.Spec.Isolation)
		return st, false, err
	}
	st, err = r.p.State(ctx, r.rec.ID)
	if errors.Is(err, hypercore.ErrNotFound) {
		return st, true, nil
	}
	return st, false, err
}

func alive(st hypercore.Status) bool {
	switch st.State {
	case hypercore.StateRunning, hypercore.StatePaused, hypercore.StateUnknown:
		return true
	}
	return false
}

func (r *runner) ensureRunning(ctx context.Context) error {
	if r.p == nil {
		if r.rec.Phase == PhaseFailed {
			return nil
		}
		return r.start(ctx) // records why it cannot
	}
	st, missing, err := r.observe(ctx)
	if err != nil {
		return fmt.Errorf("inspecting spacecore %s: %w", r.rec.ID, err) // retried on the next resync
	}
	if !missing && alive(st) {
		return r.adopt(ctx, st)
	}
	if r.rec.MachineGeneration != r.rec.Generation || r.rec.Phase == PhaseStarting {
		return r.start(ctx)
	}
	if r.rec.Phase == PhaseRunning {
		if err := r.exited(ctx, r.exitOf(st, missing)); err != nil {
			return err
		}
	}
	if r.rec.Phase != PhaseBackoff {
		return nil // exited or failed: the policy says stay down
	}
	if r.restartDue {
		return r.start(ctx)
	}
	if r.timer == nil {
		r.timer = r.s.clock.NewTimer(max(0, r.rec.RestartAt.Sub(r.s.clock.Now())))
	}
	return nil
}

// exitOf is how the machine ended: from the provider's status, else from
// the last Wait, else unknown (nil).
func (r *runner) exitOf(st hypercore.Status, missing bool) *hypercore.ExitStatus {
	if !missing && st.Exit != nil {
		e := *st.Exit
		return &e
	}
	if r.lastWait != nil && r.lastWait.err == nil && r.w != nil && r.lastWait.inc == r.w.inc {
		e := r.lastWait.exit
		return &e
	}
	return nil
}
