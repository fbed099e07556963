package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// State implements hypercore.Provider.
//
// The supervisor asks this of every machine on each resync, so the common
// case costs a stat: meta.json's summary is cached by file identity, and a
// machine this provider value started and whose waiter has not fired is
// running without asking libcontainer (which decodes state.json).
func (p *Provider) State(ctx context.Context, id string) (hypercore.Status, error) {
	st, err := p.views.status(p, id)
	if err != nil {
		return hypercore.Status{}, err
	}
	switch {
	case st.StartedAt.IsZero():
		st.State = hypercore.StateCreated
	case st.Exit != nil:
		st.State = hypercore.StateStopped
	default:
		p.mu.Lock()
		h := p.machines[id]
		var proc *libcontainer.Process
		if h != nil {
			proc = h.proc
		}
		p.mu.Unlock()
		if proc != nil {
			select {
			case <-h.done:
			default:
				st.State = hypercore.StateRunning
				if pid, err := proc.Pid(); err == nil {
					st.Pid = pid
				}
				return st, nil
			}
		}
		c, err := p.load(id)
		if err != nil {
			return st, err
		}
		s, err := c.Status()
		if err != nil {
			return st, err
		}
		switch s {
		case libcontainer.Running, libcontainer.Created:
			st.State = hypercore.StateRunning
			if cs, err := c.State(); err == nil {
				st.Pid = cs.InitProcessPid
			}
		case libcontainer.Paused:
			st.State = hypercore.StatePaused
		default:
			// libcontainer sees no init, but no exit was recorded yet.
			p.mu.Lock()
			h := p.machines[id]
			p.mu.Unlock()
			if h != nil {
				// We started it and our waiter holds the process: it has
				// not exited until the waiter says so (libcontainer's view
				// can be transiently wrong right after the exec — seen as
				// a State call that blocked forever).
				select {
				case <-h.done:
					if m2, err := p.loadMeta(id); err == nil && m2.Exit != nil {
						st.State, st.Exit = hypercore.StateStopped, m2.Exit
						return st, nil
					}
				default:
				}
				st.State = hypercore.StateRunning
				if cs, err := c.State(); err == nil {
					st.Pid = cs.InitProcessPid
				}
				return st, nil
			}
			// Adopted after a restart and died: Wait records 255.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			ex, err := p.Wait(wctx, id)
			if err != nil {
				return st, err
			}
			st.State, st.Exit = hypercore.StateStopped, &ex
		}
	}
	return st, nil
}

// Wait implements hypercore.Provider. For a machine this provider value
// started it waits on the process; for an adopted one (started before a
// restart) it polls, and records exit code 255 when the workload died
// while nobody was its parent (the code is unknowable then).
func (p *Provider) Wait(ctx context.Context, id string) (hypercore.ExitStatus, error) {
	p.mu.Lock()
	h := p.machines[id]
	p.mu.Unlock()
	if h != nil {
		select {
		case <-h.done:
		case <-ctx.Done():
			return hypercore.ExitStatus{}, ctx.Err()
		}
	}
	// Adopted machines have no parent here: poll, backing off from 25 ms to
	// 1 s while nothing changes (a thousand adopted machines must not cost
	// tens of thousands of state reads a second).
	poll := 25 * time.Millisecond
	for {
		m, err := p.loadMeta(id)
		if err != nil {
			return hypercore.ExitStatus{}, err
		}
		if m.Exit != nil {
			return *m.Exit, nil
		}
		if !m.StartedAt.IsZero() && h == nil && !p.owned(id) {
			c, err := p.load(id)
			if err != nil {
				return hypercore.ExitStatus{}, err
			}
			if s, err := c.Status(); err == nil && s == libcontainer.Stopped {
				ex := hypercore.ExitStatus{Code: 255, At: time.Now().UTC(), OOMKilled: oomKilled(c)}
				p.recordExit(id, ex)
				continue
			}
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return hypercore.ExitStatus{}, ctx.Err()
		}
		poll = min(poll*2, time.Second)
	}
}

// owned reports whether this provider value started id (and so will
// record its exit itself).
func (p *Provider) owned(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.machines[id]
	return ok
}

// Stop implements hypercore.Provider: SIGTERM, up to grace, then SIGKILL.
func (p *Provider) Stop(ctx context.Context, id string, grace time.Duration) error {
	st, err := p.State(ctx, id)
	if err != nil {
		return err
	}
	if st.State != hypercore.StateRunning && st.State != hypercore.StatePaused {
		return nil
	}
	c, err := p.load(id)
	if err != nil {
		return err
	}
	if st.State == hypercore.StatePaused {
		_ = c.Resume()
	}
	if err := p.signal(c, id, unix.SIGTERM); err != nil && !gone(err) {
		return fmt.Errorf("stopping sandbox %s: %w", id, err)
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	_, err = p.Wait(gctx, id)
	cancel()
	if err == nil {
		return nil
	}
	if err := p.signal(c, id, unix.SIGKILL); err != nil && !gone(err) {
		return fmt.Errorf("killing sandbox %s: %w", id, err)
	}
	if _, err := p.Wait(ctx, id); err != nil {
		return fmt.Errorf("stopping sandbox %s: %w", id, err)
	}
	return nil
}

// signal sends sig to the machine's init: through the process handle when
// this provider value started it (the kernel's view, never stale), else
// through libcontainer.
func (p *Provider) signal(c *libcontainer.Container, id string, sig unix.Signal) error {
	p.mu.Lock()
	var proc *libcontainer.Process
	if h := p.machines[id]; h != nil {
		proc = h.proc
	}
	p.mu.Unlock()
	if proc != nil {
		return proc.Signal(sig)
	}
	return c.Signal(sig)
}

// gone: signalling failed because the init already exited.
func gone(err error) bool {
	return errors.Is(err, libcontainer.ErrNotRunning) || errors.Is(err, os.ErrProcessDone) || errors.Is(err, unix.ESRCH)
}
