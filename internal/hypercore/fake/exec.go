package fake

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

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
	if len(req.Args) > 1 && req.Args[1] == "tty" {
		return ttySession(ctx, req, stdout), nil
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

// ttySession mimics `tw tty`: "tty=BOOL size=RxC", "resized=RxC" for every
// size change (TTY only), "got: LINE" per input line, exit N on "exit N",
// 0 at end of input.
func ttySession(ctx context.Context, req hypercore.ExecRequest, stdout io.Writer) int {
	size := "none"
	if req.TTY {
		sz := req.Size
		if sz.Rows == 0 || sz.Cols == 0 {
			sz = hypercore.WindowSize{Rows: 24, Cols: 80}
		}
		size = fmt.Sprintf("%dx%d", sz.Rows, sz.Cols)
	}
	fmt.Fprintf(stdout, "tty=%v size=%s\n", req.TTY, size)
	lines := make(chan string)
	go func() {
		defer close(lines)
		if req.Stdin == nil {
			return
		}
		sc := bufio.NewScanner(req.Stdin)
		for sc.Scan() {
			select {
			case lines <- strings.TrimRight(sc.Text(), "\r"):
			case <-ctx.Done():
				return
			}
		}
	}()
	var resize <-chan hypercore.WindowSize
	if req.TTY {
		resize = req.Resize
	}
	for {
		select {
		case sz := <-resize:
			fmt.Fprintf(stdout, "resized=%dx%d\n", sz.Rows, sz.Cols)
		case l, ok := <-lines:
			if !ok {
				return 0
			}
			if n, found := strings.CutPrefix(l, "exit "); found {
				code, _ := strconv.Atoi(n)
				return code
			}
			fmt.Fprintf(stdout, "got: %s\n", l)
		case <-ctx.Done():
			return 137
		}
	}
}
