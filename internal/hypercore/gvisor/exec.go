package gvisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Exec implements hypercore.Provider with `runsc exec`: the process runs
// inside the machine's sentry, with the machine's environment plus
// req.Env. runsc exits with the process's code (128+signal when killed).
// TTY is refused: this runsc's exec ignores --console-socket (it never
// connects to the socket; with a process spec asking for a terminal it
// runs the process with no output anywhere); see docs/gvisor.md.
func (p *Provider) Exec(ctx context.Context, id string, req hypercore.ExecRequest) (int, error) {
	if len(req.Args) == 0 {
		return 0, fmt.Errorf("exec in %s: %w: no args", id, hypercore.ErrInvalid)
	}
	if req.TTY {
		return 0, fmt.Errorf("exec in %s: %w: the gvisor provider has no TTY exec yet", id, hypercore.ErrInvalid)
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
	args := append(p.flags(m), "exec")
	user := req.User
	if user == "" {
		user = m.Spec.Process.User
	}
	if user != "" {
		if !strings.Contains(user, ":") {
			user += ":" + user
		}
		args = append(args, "--user", user)
	}
	cwd := req.Dir
	if cwd == "" {
		cwd = m.Spec.Process.Cwd
	}
	if cwd == "" {
		cwd = "/"
	}
	args = append(args, "--cwd", cwd)
	env := append(append([]string(nil), m.Spec.Process.Env...), req.Env...)
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	for _, e := range env {
		args = append(args, "--env", e)
	}
	args = append(args, m.RunscID)
	args = append(args, req.Args...)
	cmd := exec.CommandContext(ctx, p.bin(), args...)
	cmd.Stdout, cmd.Stderr = orDiscard(req.Stdout), orDiscard(req.Stderr)
	if req.Stdin != nil {
		// Our own copier, not exec.Cmd's: Wait would otherwise block on a
		// stdin that never ends after the process has exited.
		w, err := cmd.StdinPipe()
		if err != nil {
			return 0, err
		}
		go func() {
			_, _ = io.Copy(w, req.Stdin)
			w.Close()
		}()
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", id, err)
	}
	return 0, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func hasEnv(env []string, k string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, k+"=") {
			return true
		}
	}
	return false
}
