package spacecore

import (
	"context"
	"fmt"
	"io"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// This file holds the read-side API: logs, exec, stats, status, events.

// Logs returns the spacecore's output: the last tail lines (every kept
// line when tail < 0) and, with follow, what comes next until ctx ends
// or the spacecore stops for good.
func (s *Supervisor) Logs(ctx context.Context, id string, follow bool, tail int) (io.ReadCloser, error) {
	r, err := s.runner(id)
	if err != nil {
		return nil, err
	}
	return r.sink.reader(ctx, follow, tail), nil
}

// Exec runs a process in a running spacecore and returns its exit code.
func (s *Supervisor) Exec(ctx context.Context, id string, req hypercore.ExecRequest) (int, error) {
	p, err := s.runningProvider(id)
	if err != nil {
		return 0, fmt.Errorf("exec in spacecore %s: %w", id, err)
	}
	code, err := p.Exec(ctx, id, req)
	if err != nil {
		return code, fmt.Errorf("exec in spacecore %s: %w", id, err)
	}
	return code, nil
}

// Stats samples a running spacecore's resource usage.
func (s *Supervisor) Stats(ctx context.Context, id string) (hypercore.Stats, error) {
	p, err := s.runningProvider(id)
	if err != nil {
		return hypercore.Stats{}, fmt.Errorf("stats of spacecore %s: %w", id, err)
	}
	st, err := p.Stats(ctx, id)
	if err != nil {
		return st, fmt.Errorf("stats of spacecore %s: %w", id, err)
	}
	return st, nil
}

// Status returns the provider's view of a spacecore's machine: its state,
// IP and the host ports actually bound (what the ingress gateway needs).
// A spacecore without a machine (stopped, exited) is ErrNotFound.
func (s *Supervisor) Status(ctx context.Context, id string) (hypercore.Status, error) {
	rec, err := s.Get(id)
	if err != nil {
		return hypercore.Status{}, err
	}
	p, err := s.provider(rec.Spec.Isolation)
	if err != nil {
		return hypercore.Status{}, fmt.Errorf("status of spacecore %s: %w", id, err)
	}
	st, err := p.State(ctx, id)
	if err != nil {
		return st, fmt.Errorf("status of spacecore %s: %w", id, err)
	}
	return st, nil
}

// Events streams events to the caller until ctx ends. A subscriber that
// falls behind is dropped (its channel closed) rather than slowing the
// supervisor down.
func (s *Supervisor) Events(ctx context.Context) <-chan Event {
	return s.events.subscribe(ctx)
}

func (s *Supervisor) runningProvider(id string) (hypercore.Provider, error) {
	rec, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	if rec.Phase != PhaseRunning {
		return nil, fmt.Errorf("%w: spacecore is %s", hypercore.ErrState, rec.Phase)
	}
	return s.provider(rec.Spec.Isolation)
}
