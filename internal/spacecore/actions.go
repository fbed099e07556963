package spacecore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// drainTimeout bounds the wait for a stopped machine's log copy to finish
// before the machine is deleted or replaced.
const drainTimeout = 5 * time.Second

// watch follows one machine incarnation: a Wait and a log copy.
type watch struct {
	inc    int64
	cancel context.CancelFunc
	exits  chan exitMsg // buffered: the waiter never blocks
	copied chan struct{}
}

// start (re)creates and starts the machine. Every provider call is
// idempotent from the record's point of view: an existing machine is
// deleted first, so a crash anywhere in here is repaired by running it
// again.
func (r *runner) start(ctx context.Context) error {
	id := r.rec.ID
	restart := r.rec.MachineGeneration == r.rec.Generation
	r.cancelTimer()
	r.restartDue = false
	if r.p == nil {
		_, err := r.s.provider(r.rec.Spec.Isolation)
		return r.markFailed(fmt.Errorf("starting spacecore %s: %w", id, err), true)
	}
	select {
	case r.s.starts <- struct{}{}:
		defer func() { <-r.s.starts }()
	case <-ctx.Done():
		return errStopping
	}
	began := time.Now()
	r.unwatch(true)
	if !r.reserved {
		if err := r.s.admit(&r.rec); err != nil {
			return r.markFailed(err, true)
		}
		r.reserved = true
	}
	if restart && r.rec.Phase != PhaseStarting {
		r.rec.RestartCount++
		r.s.metrics.restarts.Inc()
	}
	r.rec.Phase, r.rec.RestartAt = PhaseStarting, time.Time{}
	r.rec.Incarnation++
	if err := r.save(); err != nil {
		return err
	}
	if err := r.step("start:persisted"); err != nil {
		return err
	}
	r.sink.setLive(true)
	if err := r.ensureRootFS(ctx); err != nil {
		return r.startFailed(ctx, err)
	}
	if err := r.p.Delete(ctx, id); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
		return r.startFailed(ctx, fmt.Errorf("deleting the previous machine: %w", err))
	}
	spec := r.rec.Spec
	spec.Labels = maps.Clone(spec.Labels)
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels[LabelID] = id
	if err := r.p.Create(ctx, id, spec); err != nil {
		return r.startFailed(ctx, err)
	}
	if err := r.step("start:created"); err != nil {
		return err
	}
	if err := r.p.Start(ctx, id); err != nil {
		return r.startFailed(ctx, err)
	}
	if err := r.step("start:started"); err != nil {
		return err
	}
	r.s.metrics.startLat.Observe(time.Since(began).Seconds())
	r.rec.Phase, r.rec.MachineGeneration = PhaseRunning, r.rec.Generation
	r.rec.StartedAt, r.rec.LastError = r.s.clock.Now(), ""
	r.watchMachine()
	if err := r.save(); err != nil {
		return err
	}
	ev := EventStarted
	if restart {
		ev = EventRestarted
	}
	r.s.emit(ev, &r.rec, nil)
	r.log.Info("spacecore started", "restart", restart, "restarts", r.rec.RestartCount)
	return nil
}

// ensureRootFS re-resolves the image (pinned to the recorded digest) when
// its unpacked rootfs has gone, e.g. after the image cache was cleaned.
func (r *runner) ensureRootFS(ctx context.Context) error {
	if r.rec.ImageRef == "" {
		return nil
	}
	if _, err := os.Stat(r.rec.Spec.RootFS); err == nil {
		return nil
	}
	if err := r.s.resolve(ctx, &r.rec); err != nil {
		return err
	}
	return r.save()
}

func (r *runner) startFailed(ctx context.Context, err error) error {
	if derr := r.p.Delete(ctx, r.rec.ID); derr != nil && !errors.Is(derr, hypercore.ErrNotFound) {
		r.log.Warn("cleaning up after a failed start", "err", derr)
	}
	return r.markFailed(fmt.Errorf("starting spacecore %s: %w", r.rec.ID, err), false)
}

// markFailed records a failed start. Unless final, the restart policy may
// schedule another attempt (a failed start counts as a failure).
func (r *runner) markFailed(err error, final bool) error {
	r.rec.LastError = err.Error()
	r.rec.MachineGeneration = r.rec.Generation
	r.rec.StartedAt = time.Time{}
	if !final && r.s.opts.Backoff.scheduleRestart(&r.rec, r.s.clock.Now(), nil) {
		r.rec.Phase = PhaseBackoff
	} else {
		r.rec.Phase, r.rec.RestartAt = PhaseFailed, time.Time{}
		r.releaseAll()
	}
	if serr := r.save(); serr != nil {
		err = errors.Join(err, serr)
	}
	r.s.emit(EventFailed, &r.rec, err)
	r.log.Warn("spacecore failed to start", "err", err, "phase", r.rec.Phase)
	return err
}

// adopt starts watching a live machine this runner did not start (after
// a daemon restart, or a crash between Start and persisting it).
func (r *runner) adopt(ctx context.Context, st hypercore.Status) error {
	if r.w != nil && r.rec.Phase == PhaseRunning && r.rec.MachineGeneration == r.rec.Generation {
		return nil
	}
	r.cancelTimer()
	if !r.reserved {
		if err := r.s.admit(&r.rec); err != nil {
			// Killing a running workload would be worse than
			// overcommitting; report it.
			r.log.Warn("adopted spacecore exceeds this node's capacity", "err", err)
		} else {
			r.reserved = true
		}
	}
	if r.rec.Phase != PhaseRunning {
		r.rec.StartedAt = st.StartedAt
		if r.rec.StartedAt.IsZero() {
			r.rec.StartedAt = r.s.clock.Now()
		}
	}
	r.rec.Phase, r.rec.MachineGeneration, r.rec.RestartAt = PhaseRunning, r.rec.Generation, time.Time{}
	adopted := r.w == nil
	if adopted {
		r.sink.setLive(true)
		r.watchMachine()
	}
	if err := r.save(); err != nil {
		return err
	}
	if adopted {
		r.s.emit(EventAdopted, &r.rec, nil)
		r.log.Info("spacecore adopted")
	}
	return nil
}

// exited records an exit the workload made on its own and applies the
// restart policy: a backoff, or down for good (the machine is deleted).
func (r *runner) exited(ctx context.Context, ex *hypercore.ExitStatus) error {
	r.rec.LastExit = ex
	r.unwatch(true)
	if r.s.opts.Backoff.scheduleRestart(&r.rec, r.s.clock.Now(), ex) {
		r.rec.Phase = PhaseBackoff
	} else {
		r.rec.Phase = PhaseExited
		r.deleteMachine(ctx)
		r.releaseAll()
	}
	err := r.save()
	r.s.emit(EventExited, &r.rec, nil)
	if ex != nil {
		r.log.Info("spacecore exited", "code", ex.Code, "signal", ex.Signal, "oom", ex.OOMKilled, "phase", r.rec.Phase, "restart_at", r.rec.RestartAt)
	} else {
		r.log.Info("spacecore machine vanished", "phase", r.rec.Phase, "restart_at", r.rec.RestartAt)
	}
	return err
}

// stop stops and deletes the machine of a spacecore whose owner asked
// for it to be stopped.
func (r *runner) stop(ctx context.Context, grace time.Duration) error {
	r.cancelTimer()
	r.restartDue = false
	if r.rec.Phase == PhaseStopped {
		r.deleteMachine(ctx) // finishes a stop cut short by a crash
		return nil
	}
	st, missing, err := r.observe(ctx)
	if err != nil && r.p != nil {
		return fmt.Errorf("stopping spacecore %s: %w", r.rec.ID, err)
	}
	if r.p != nil && !missing && alive(st) {
		if err := r.p.Stop(ctx, r.rec.ID, grace); err != nil {
			return fmt.Errorf("stopping spacecore %s: %w", r.rec.ID, err)
		}
		if st2, missing2, err := r.observe(ctx); err == nil {
			st, missing = st2, missing2
		}
		if ex := r.exitOf(st, missing); ex != nil {
			r.rec.LastExit = ex
		}
	}
	r.unwatch(true)
	r.deleteMachine(ctx)
	r.rec.Phase, r.rec.RestartAt = PhaseStopped, time.Time{}
	r.releaseAll()
	err = r.save()
	r.s.emit(EventStopped, &r.rec, nil)
	r.log.Info("spacecore stopped")
	return err
}

// remove finishes a removal: machine, logs, record, reservation.
func (r *runner) remove(ctx context.Context, grace time.Duration) error {
	r.cancelTimer()
	if r.rec.Phase != PhaseRemoving {
		r.rec.Phase = PhaseRemoving
		if err := r.save(); err != nil {
			return err
		}
	}
	if r.p != nil {
		if err := r.p.Stop(ctx, r.rec.ID, grace); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
			return fmt.Errorf("removing spacecore %s: %w", r.rec.ID, err)
		}
		r.unwatch(true)
		if err := r.p.Delete(ctx, r.rec.ID); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
			return fmt.Errorf("removing spacecore %s: %w", r.rec.ID, err)
		}
	}
	if err := r.step("remove:machine-deleted"); err != nil {
		return err
	}
	r.sink.close(true)
	if err := r.s.store.remove(&r.rec); err != nil {
		return fmt.Errorf("removing spacecore %s: %w", r.rec.ID, err)
	}
	r.s.forget(r.rec.ID)
	r.releaseAll()
	r.finished = true
	r.s.emit(EventRemoved, &r.rec, nil)
	r.log.Info("spacecore removed")
	return nil
}

func (r *runner) deleteMachine(ctx context.Context) {
	if r.p == nil {
		return
	}
	if err := r.p.Delete(ctx, r.rec.ID); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
		r.log.Warn("deleting stopped machine", "err", err)
	}
}

// releaseAll gives back the reservation and ends log followers: the
// spacecore holds no machine until it is started again.
func (r *runner) releaseAll() {
	if r.reserved {
		r.s.release(r.rec.ID)
		r.reserved = false
	}
	r.sink.setLive(false)
}

func (r *runner) cancelTimer() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// watchMachine starts waiting for the current incarnation to exit and
// copying its log into the sink.
func (r *runner) watchMachine() {
	ctx, cancel := context.WithCancel(r.s.ctx)
	w := &watch{inc: r.rec.Incarnation, cancel: cancel, exits: make(chan exitMsg, 1), copied: make(chan struct{})}
	id, p, k, log := r.rec.ID, r.p, r.sink, r.log
	r.s.wg.Add(2)
	go func() {
		defer r.s.wg.Done()
		ex, err := p.Wait(ctx, id)
		if ctx.Err() == nil {
			w.exits <- exitMsg{inc: w.inc, exit: ex, err: err}
		}
	}()
	go func() {
		defer r.s.wg.Done()
		defer close(w.copied)
		rc, err := p.Logs(ctx, id, hypercore.LogOptions{Follow: true})
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("reading machine log", "err", err)
			}
			return
		}
		defer rc.Close()
		if err := k.copyFrom(rc, w.inc); err != nil && ctx.Err() == nil {
			log.Warn("copying machine log", "err", err)
		}
	}()
	r.w = w
}

// unwatch stops following the current incarnation; with drain it first
// lets the log copy finish (the machine has exited).
func (r *runner) unwatch(drain bool) {
	w := r.w
	if w == nil {
		return
	}
	r.w = nil
	if drain {
		t := time.NewTimer(drainTimeout)
		select {
		case <-w.copied:
		case <-t.C:
			r.log.Warn("machine log still open after exit; cutting it")
		}
		t.Stop()
	}
	w.cancel()
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-w.copied:
	case <-t.C:
		r.log.Warn("machine log copy ignores cancellation")
	}
}
