package gvisor

import (
	"context"
	"io"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/logtail"
)

// Logs implements hypercore.Provider. The shim hands console.log to runsc
// as the workload's stdout and stderr, so the log survives restarts.
func (p *Provider) Logs(ctx context.Context, id string, opts hypercore.LogOptions) (io.ReadCloser, error) {
	if _, err := p.loadMeta(id); err != nil {
		return nil, err
	}
	return logtail.Open(ctx, &p.logw, p.logPath(id), opts.Follow, func() (bool, <-chan struct{}) { return p.stopped(id) }), nil
}

// stopped reports whether id has stopped, or else the channel closed when
// it does (nil for an adopted machine: it is asked again).
func (p *Provider) stopped(id string) (bool, <-chan struct{}) {
	p.mu.Lock()
	h := p.machines[id]
	p.mu.Unlock()
	if h != nil {
		select {
		case <-h.done:
			return true, nil
		default:
			return false, h.done
		}
	}
	m, err := p.loadMeta(id)
	if err != nil {
		return true, nil
	}
	if m.StartedAt.IsZero() {
		return false, nil
	}
	_, done := p.finished(id, m)
	return done, nil
}
