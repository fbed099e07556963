package fake

import (
	"context"
	"fmt"
	"io"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Exec implements hypercore.Provider by interpreting tw commands; `cat`
// copies stdin to stdout.
func (p *Provider) Exec(ctx context.Context, id string, req hypercore.ExecRequest) (int, error) {
	m, err := p.get(id)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	state := m.state
	m.mu.Unlock()
	if state != hypercore.StateRunning {
		return 0, fmt.Errorf("exec in %s: %w: machine is %s", id, hypercore.ErrState, state)
	}
	if len(req.Args) == 0 {
		return 0, fmt.Errorf("exec in %s: %w: no args", id, hypercore.ErrInvalid)
	}
	stdout := req.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	if len(req.Args) > 1 && req.Args[1] == "cat" && req.Stdin != nil {
		if _, err := io.Copy(stdout, req.Stdin); err != nil {
			return 1, nil
		}
		return 0, nil
	}
	stderr := req.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	never := make(chan struct{})
	code, _ := m.interpret(req.Args[1:], never, ctx.Done(),
		func(s string) { io.WriteString(stdout, s) }, func(s string) { io.WriteString(stderr, s) })
	return code, nil
}
