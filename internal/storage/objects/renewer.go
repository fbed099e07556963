package objects

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Renewer renews the owner's deals in the background: every Every it
// runs RenewWithin(Within) and logs what it did. A failed run (or a
// panicking one) is logged and the next tick tries again; nothing it
// meets stops the process it runs in.
type Renewer struct {
	C      *Client
	Within int64         // blocks; must be > 0
	Every  time.Duration // default 10m
	// Tick, when set, replaces the ticker (tests drive runs with it).
	Tick <-chan time.Time
	// Log is where runs are reported (nil: slog.Default()).
	Log *slog.Logger
	// Ran, when set, is called after each run with its report.
	Ran func(RenewReport, error)

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// DefaultRenewEvery is how often a Renewer runs unless told otherwise.
const DefaultRenewEvery = 10 * time.Minute

// Start runs the loop until ctx ends or Stop is called. The first run
// waits for the first tick: a gateway starting up serves first.
func (r *Renewer) Start(ctx context.Context) error {
	if r.Within <= 0 {
		return fmt.Errorf("objects: renewer: within %d blocks: want > 0", r.Within)
	}
	if _, ok := r.C.Net.(DealRenewer); !ok {
		return fmt.Errorf("objects: renewer: %w (network %T)", ErrNoDeals, r.C.Net)
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
	tick := r.Tick
	var t *time.Ticker
	if tick == nil {
		every := r.Every
		if every <= 0 {
			every = DefaultRenewEvery
		}
		t = time.NewTicker(every)
		tick = t.C
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		if t != nil {
			defer t.Stop()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-tick:
				if !ok {
					return
				}
				r.run(ctx)
			}
		}
	}()
	return nil
}

// Stop ends the loop, cancelling a run under way, and waits for it.
func (r *Renewer) Stop() {
	r.once.Do(func() {
		if r.cancel != nil {
			r.cancel()
			<-r.done
		}
	})
}

func (r *Renewer) run(ctx context.Context) {
	var (
		rep RenewReport
		err error
	)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("objects: renewer: panic: %v", p)
			r.Log.Error("auto-renew run failed", "err", err)
		}
		if r.Ran != nil {
			r.Ran(rep, err)
		}
	}()
	rep, err = r.C.RenewWithin(ctx, r.Within, func(x Renewal) {
		switch x.Action {
		case Renewed:
			r.Log.Info("auto-renew: renewed", "kind", x.Kind, "object", x.Object, "deal", x.Deal,
				"old_expiry", x.OldExpiry, "expiry", x.Expiry, "deposit_uvis", x.Deposit)
		case Failed:
			r.Log.Warn("auto-renew: failed", "kind", x.Kind, "object", x.Object, "deal", x.Deal, "err", x.Error)
		}
	})
	attrs := []any{"height", rep.Height, "within", r.Within, "renewed", rep.Renewed, "skipped", rep.Skipped,
		"failed", rep.Failed, "deposit_uvis", rep.Deposit}
	if err != nil {
		r.Log.Error("auto-renew run stopped", append(attrs, "err", err)...)
		return
	}
	r.Log.Info("auto-renew run", attrs...)
}
