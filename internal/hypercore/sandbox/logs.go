package sandbox

import (
	"context"
	"io"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/logtail"
)

// Logs implements hypercore.Provider. The workload writes straight into
// console.log (the file is its stdout and stderr), so logs survive daemon
// restarts; following ends once the machine has stopped and the file is
// drained (internal/hypercore/logtail).
func (p *Provider) Logs(ctx context.Context, id string, opts hypercore.LogOptions) (io.ReadCloser, error) {
	if _, err := p.loadMeta(id); err != nil {
		return nil, err
	}
	return logtail.Open(ctx, &p.logw, p.logPath(id), opts.Follow, func() (bool, <-chan struct{}) { return p.stopped(id) }), nil
}

// stopped reports whether id has stopped, or else the channel closed when
// it does. A machine this provider started has a handle whose done channel
// says so without touching the disk; an adopted one is checked on disk.
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
	return err != nil || m.Exit != nil, nil
}
