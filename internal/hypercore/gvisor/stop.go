package gvisor

import (
	"context"
	"fmt"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// State implements hypercore.Provider.
func (p *Provider) State(ctx context.Context, id string) (hypercore.Status, error) {
	m, err := p.loadMeta(id)
	if err != nil {
		return hypercore.Status{}, err
	}
	st := hypercore.Status{ID: id, CreatedAt: m.CreatedAt, StartedAt: m.StartedAt, Ports: m.Ports, Labels: m.Spec.Labels, Exit: m.Exit}
	if m.Net != nil {
		st.IP = m.Net.IP
	}
	switch {
	case m.StartedAt.IsZero():
		st.State = hypercore.StateCreated
	case m.Exit != nil:
		st.State = hypercore.StateStopped
	default:
		if ex, ok := p.finished(id, m); ok {
			st.State, st.Exit = hypercore.StateStopped, &ex
			return st, nil
		}
		st.State = hypercore.StateRunning
		st.Pid = m.ShimPid
	}
	return st, nil
}

// finished reports a started machine's exit when it has one: recorded by
// our waiter, written by the shim (an adopted machine), or — shim gone
// without a word — 255.
func (p *Provider) finished(id string, m *meta) (hypercore.ExitStatus, bool) {
	if m.Exit != nil {
		return *m.Exit, true
	}
	if p.owned(id) {
		select {
		case <-p.handle(id).done:
			if m2, err := p.loadMeta(id); err == nil && m2.Exit != nil {
				return *m2.Exit, true
			}
		default:
		}
		return hypercore.ExitStatus{}, false
	}
	if _, ok := p.exitCode(id); ok || !shimAlive(m) {
		ex := p.readExit(id)
		p.recordExit(id, ex)
		if m2, err := p.loadMeta(id); err == nil && m2.Exit != nil {
			return *m2.Exit, true
		}
		return ex, true
	}
	return hypercore.ExitStatus{}, false
}

// owned reports whether this provider value started id (its waiter will
// record the exit).
func (p *Provider) owned(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.machines[id]
	return ok
}

// Wait implements hypercore.Provider. A machine this value started is
// waited on in memory; an adopted one is polled, backing off to 1 s.
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
	poll := 25 * time.Millisecond
	for {
		m, err := p.loadMeta(id)
		if err != nil {
			return hypercore.ExitStatus{}, err
		}
		if !m.StartedAt.IsZero() {
			if ex, ok := p.finished(id, m); ok {
				return ex, nil
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

// Stop implements hypercore.Provider: SIGTERM to the workload, up to
// grace, then SIGKILL.
func (p *Provider) Stop(ctx context.Context, id string, grace time.Duration) error {
	st, err := p.State(ctx, id)
	if err != nil {
		return err
	}
	if st.State != hypercore.StateRunning {
		return nil
	}
	m, err := p.loadMeta(id)
	if err != nil {
		return err
	}
	if err := p.signal(ctx, m, "TERM"); err != nil {
		return fmt.Errorf("stopping gvisor machine %s: %w", id, err)
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	_, err = p.Wait(gctx, id)
	cancel()
	if err == nil {
		return nil
	}
	if err := p.signal(ctx, m, "KILL"); err != nil {
		return fmt.Errorf("killing gvisor machine %s: %w", id, err)
	}
	if _, err := p.Wait(ctx, id); err != nil {
		return fmt.Errorf("stopping gvisor machine %s: %w", id, err)
	}
	return nil
}

// signal sends sig to the workload. A failure matters only while runsc
// still has the container running: a workload that has just ended is
// gone from runsc before its shim has recorded the exit.
func (p *Provider) signal(ctx context.Context, m *meta, sig string) error {
	_, err := p.runsc(ctx, m, "kill", m.RunscID, sig)
	if err != nil && p.status(ctx, m) == "running" {
		return err
	}
	return nil
}
