package microvm

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Logs implements hypercore.Provider. QEMU writes the workload's output
// port straight into the log file, so logs survive daemon restarts; follow
// polls the file (backing off while quiet) until the machine has stopped
// and the file is drained.
func (p *Provider) Logs(ctx context.Context, id string, opts hypercore.LogOptions) (io.ReadCloser, error) {
	if _, err := p.loadMeta(id); err != nil {
		return nil, err
	}
	return &logReader{ctx: ctx, p: p, id: id, follow: opts.Follow}, nil
}

type logReader struct {
	ctx    context.Context
	p      *Provider
	id     string
	follow bool
	f      *os.File
	closed bool
	idle   time.Duration
}

func (r *logReader) Read(b []byte) (int, error) {
	for {
		if r.closed {
			return 0, os.ErrClosed
		}
		if r.f == nil {
			f, err := os.Open(r.p.path(r.id, fileLog))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, err
			}
			r.f = f
		}
		if r.f != nil {
			n, err := r.f.Read(b)
			if n > 0 || (err != nil && err != io.EOF) {
				r.idle = 0
				return n, err
			}
		}
		if !r.follow {
			return 0, io.EOF
		}
		var done <-chan struct{}
		stopped := true
		if m, err := r.p.loadMeta(r.id); err == nil {
			if m.StartedAt.IsZero() {
				stopped = false
			} else if h := r.p.handleOf(r.id, m); h != nil && !h.isDone() {
				stopped, done = false, h.done
			}
		}
		if stopped {
			if r.f != nil {
				if n, _ := r.f.Read(b); n > 0 {
					return n, nil
				}
			}
			return 0, io.EOF
		}
		r.idle = min(max(r.idle*2, 20*time.Millisecond), time.Second)
		t := time.NewTimer(r.idle)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return 0, io.EOF
		case <-done:
			t.Stop()
		case <-t.C:
		}
	}
}

func (r *logReader) Close() error {
	r.closed = true
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}
