package sandbox

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// Exec implements hypercore.Provider: the process joins the machine's
// namespaces and cgroup with the machine's seccomp profile, capabilities
// and no-new-privileges. TTY mode is not supported yet (the request is
// refused rather than silently run without one).
func (p *Provider) Exec(ctx context.Context, id string, req hypercore.ExecRequest) (int, error) {
	if len(req.Args) == 0 {
		return 0, fmt.Errorf("exec in %s: %w: no args", id, hypercore.ErrInvalid)
	}
	if req.TTY {
		return 0, fmt.Errorf("exec in %s: %w: tty exec is not supported by the sandbox provider yet", id, hypercore.ErrInvalid)
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
	env := envOf(m.Spec)
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
	proc := &libcontainer.Process{
		Args: req.Args, Env: env, Cwd: cwd, UID: uid, GID: gid,
		Stdin: req.Stdin, Stdout: stdout, Stderr: stderr,
	}
	if err := c.Run(proc); err != nil {
		return 0, fmt.Errorf("exec in %s: %w", id, err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = proc.Signal(unix.SIGKILL)
		case <-done:
		}
	}()
	ps, werr := proc.Wait()
	close(done)
	ex := exitFrom(ps, werr)
	return ex.Code, nil
}
