package sandbox

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Logs implements hypercore.Provider. The workload writes straight into
// console.log (the file is its stdout and stderr), so logs survive daemon
// restarts; follow polls the file until the machine has stopped and the
// file is drained.
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
	idle   time.Duration // current poll interval at EOF (backs off while quiet)
}

// Follow polling: start quick, back off while the log is quiet, so a
// thousand idle followers cost a few hundred cheap reads a second instead
// of tens of thousands of reads and metadata decodes.
const (
	followMinPoll = 50 * time.Millisecond
	followMaxPoll = time.Second
)

func (r *logReader) Read(b []byte) (int, error) {
	for {
		if r.closed {
			return 0, os.ErrClosed
		}
		if r.f == nil {
			f, err := os.Open(r.p.logPath(r.id))
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
		// At EOF: done if the machine has stopped (after one more read,
		// since the last bytes may have landed after our read). A machine
		// this provider started has a handle whose done channel says so
		// without touching the disk; an adopted one is checked on disk.
		r.p.mu.Lock()
		h := r.p.machines[r.id]
		r.p.mu.Unlock()
		stopped := false
		var done <-chan struct{}
		if h != nil {
			select {
			case <-h.done:
				stopped = true
			default:
				done = h.done
			}
		} else if m, err := r.p.loadMeta(r.id); err != nil || m.Exit != nil {
			stopped = true
		}
		if stopped {
			if r.f != nil {
				if n, _ := r.f.Read(b); n > 0 {
					return n, nil
				}
			}
			return 0, io.EOF
		}
		r.idle = min(max(r.idle*2, followMinPoll), followMaxPoll)
		t := time.NewTimer(r.idle)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return 0, io.EOF
		case <-done: // exited: drain on the next pass
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
