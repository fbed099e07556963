package microvm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/microvm/wire"
)

// running loads a machine that must be running.
func (p *Provider) running(id string) (*meta, error) {
	m, err := p.loadMeta(id)
	if err != nil {
		return nil, err
	}
	if h := p.handleOf(id, m); h == nil || h.isDone() {
		return nil, fmt.Errorf("%w: machine %s is not running", hypercore.ErrState, id)
	}
	return m, nil
}

// Exec implements hypercore.Provider. The process runs in the guest beside
// the workload, in its cgroup; stdin, stdout and stderr travel as frames.
// With TTY it runs on a pseudo-terminal in the guest (output merged, resizes
// forwarded).
func (p *Provider) Exec(ctx context.Context, id string, req hypercore.ExecRequest) (int, error) {
	if len(req.Args) == 0 {
		return -1, fmt.Errorf("%w: exec without args", hypercore.ErrInvalid)
	}
	if _, err := p.running(id); err != nil {
		return -1, err
	}
	ac, err := p.acquire(ctx, id)
	if err != nil {
		return -1, err
	}
	defer p.release(id, ac)
	sid, ch, err := ac.open()
	if err != nil {
		return -1, err
	}
	defer ac.closeStream(sid)
	if err := ac.w.WriteJSON(wire.TExec, sid, wire.Exec{
		Args: req.Args, Env: req.Env, Dir: req.Dir, User: req.User, Stdin: req.Stdin != nil,
		TTY: req.TTY, Size: wire.Resize{Rows: req.Size.Rows, Cols: req.Size.Cols},
	}); err != nil {
		return -1, err
	}
	if req.TTY && req.Resize != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case ws := <-req.Resize:
					_ = ac.w.WriteJSON(wire.TResize, sid, wire.Resize{Rows: ws.Rows, Cols: ws.Cols})
				case <-done:
					return
				}
			}
		}()
	}
	if req.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := req.Stdin.Read(buf)
				if n > 0 {
					if ac.w.WriteData(wire.TStdin, sid, buf[:n]) != nil {
						return
					}
				}
				if err != nil {
					_ = ac.w.Write(wire.Frame{Type: wire.TStdinEOF, Stream: sid})
					return
				}
			}
		}()
	}
	stdout, stderr := req.Stdout, req.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil || req.TTY {
		stderr = stdout
	}
	for {
		select {
		case f, ok := <-ch:
			if !ok {
				return -1, fmt.Errorf("exec in %s: %w", id, ac.err())
			}
			switch f.Type {
			case wire.TStdout:
				_, _ = stdout.Write(f.Payload)
			case wire.TStderr:
				_, _ = stderr.Write(f.Payload)
			case wire.TExitCode:
				var e wire.ExitCode
				if err := json.Unmarshal(f.Payload, &e); err != nil {
					return -1, err
				}
				return e.Code, nil
			case wire.TError:
				return -1, fmt.Errorf("exec in %s: %w: %v", id, hypercore.ErrInvalid, decodeReply(f, wire.TExitCode, nil))
			}
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
}

// Stats implements hypercore.Provider: cgroup numbers from inside the
// guest (the workload's share, not QEMU's).
func (p *Provider) Stats(ctx context.Context, id string) (hypercore.Stats, error) {
	m, err := p.loadMeta(id)
	if err != nil {
		return hypercore.Stats{}, err
	}
	if h := p.handleOf(id, m); h == nil || h.isDone() {
		return hypercore.Stats{MemoryLimit: uint64(max(m.Spec.Resources.MemoryBytes, 0))}, nil
	}
	ac, err := p.acquire(ctx, id)
	if err != nil {
		return hypercore.Stats{}, err
	}
	defer p.release(id, ac)
	var s wire.Stats
	if err := ac.call(ctx, wire.TStats, struct{}{}, wire.TStatsReply, &s); err != nil {
		return hypercore.Stats{}, fmt.Errorf("stats of %s: %w", id, err)
	}
	return hypercore.Stats(s), nil
}
