package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// Exec implements hypercore.Provider: the process joins the machine's
// namespaces and cgroup with the machine's seccomp profile, capabilities
// and no-new-privileges. With TTY it gets a pseudo-terminal from the
// machine's own devpts (libcontainer hands us the master over a socket);
// Stdout then carries the merged output.
func (p *Provider) Exec(ctx context.Context, id string, req hypercore.ExecRequest) (int, error) {
	if len(req.Args) == 0 {
		return 0, fmt.Errorf("exec in %s: %w: no args", id, hypercore.ErrInvalid)
	}
	st, err := p.State(ctx, id)
	if err != nil {
		return 0, err
	}
	if st.State != hypercore.StateRunning {
		return 0, fmt.Errorf("exec in %s: %w: machine is %s", id, hypercore.ErrState, st.State)
	}
	m, err := p.loadMeta(id)
	if err != nil {
		return 0, err
	}
	c, err := p.load(id)
	if err != nil {
		return 0, err
	}
	user := req.User
	if user == "" {
		user = m.Spec.Process.User
	}
	uid, gid, err := splitUser(user)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w: user %q", id, hypercore.ErrInvalid, user)
	}
	env := envOf(m)
	env = append(env, req.Env...)
	cwd := req.Dir
	if cwd == "" {
		cwd = cwdOf(m.Spec)
	}
	stdout, stderr := req.Stdout, req.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	proc := &libcontainer.Process{Args: req.Args, Env: env, Cwd: cwd, UID: uid, GID: gid}
	var tty *ttyExec
	if req.TTY {
		if tty, err = newTTYExec(proc, req.Size); err != nil {
			return 0, fmt.Errorf("exec in %s: %w", id, err)
		}
		defer tty.close()
	} else {
		proc.Stdin, proc.Stdout, proc.Stderr = req.Stdin, stdout, stderr
		if req.Stdin != nil {
			if _, isFile := req.Stdin.(*os.File); !isFile {
				// exec.Cmd would wait for its stdin copier, which blocks in
				// Read until the caller's stream ends: a process that exited
				// would not be reaped while an interactive client keeps its
				// stdin open. Hand the process a pipe and copy ourselves.
				r, w, err := os.Pipe()
				if err != nil {
					return 0, fmt.Errorf("exec in %s: %w", id, err)
				}
				defer r.Close()
				defer w.Close()
				go func() {
					_, _ = io.Copy(w, req.Stdin)
					w.Close()
				}()
				proc.Stdin = r
			}
		}
	}
	if err := c.Run(proc); err != nil {
		return 0, fmt.Errorf("exec in %s: %w", id, err)
	}
	if tty != nil {
		if err := tty.attach(req.Stdin, stdout); err != nil {
			_ = proc.Signal(unix.SIGKILL)
			_, _ = proc.Wait()
			return 0, fmt.Errorf("exec in %s: tty: %w", id, err)
		}
	}
	done := make(chan struct{})
	if tty != nil && req.Resize != nil {
		go tty.resize(req.Resize, done)
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = proc.Signal(unix.SIGKILL)
		case <-done:
		}
	}()
	ps, werr := proc.Wait()
	close(done)
	if tty != nil {
		tty.drain()
	}
	ex := exitFrom(ps, werr)
	return ex.Code, nil
}
