package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"connectrpc.com/connect"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/api/vimana/v1/vimanav1connect"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// ExecStream runs an interactive process: the first client message starts
// it (that message is what the request signature covers; the rest of the
// stream rides on the authenticated HTTP/2 stream), later ones carry
// stdin, end of stdin and terminal resizes; output streams back and the
// last message carries the exit code. A client that goes away kills the
// process (the provider sees the request context end).
func (s *server) ExecStream(ctx context.Context, stream *connect.BidiStream[vimanav1.ExecStreamRequest, vimanav1.ExecStreamResponse]) error {
	first, err := stream.Receive()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return connect.NewError(connect.CodeInvalidArgument, errors.New("exec stream closed before its start message"))
		}
		return err
	}
	caller, err := streamIdentity(ctx, vimanav1connect.SpacecoreServiceExecStreamProcedure, stream.RequestHeader(), first)
	if err != nil {
		return err
	}
	ctx = withIdentity(ctx, caller)
	start := first.GetStart()
	if start == nil || len(start.Args) == 0 {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("the first exec stream message must carry start with args"))
	}
	if _, err := s.owned(ctx, start.Id); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	stdinR, stdinW := io.Pipe()
	defer stdinR.Close() // unblocks a pending stdin write once the process is gone
	var resize chan hypercore.WindowSize
	if start.Tty {
		resize = make(chan hypercore.WindowSize)
	}
	go func() {
		defer stdinW.Close()
		for {
			msg, err := stream.Receive()
			if err != nil {
				return // io.EOF: the client half-closed; otherwise ctx is ending too
			}
			if len(msg.Stdin) > 0 {
				if _, err := stdinW.Write(msg.Stdin); err != nil {
					return
				}
			}
			if msg.StdinEof {
				stdinW.Close()
			}
			if r := msg.Resize; r != nil && resize != nil {
				select {
				case resize <- windowSize(r):
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	out := &streamSender{stream: stream}
	code, err := s.d.Supervisor.Exec(ctx, start.Id, hypercore.ExecRequest{
		Args: start.Args, Env: start.Env, TTY: start.Tty, Size: windowSize(start.Size), Resize: resize,
		Stdin: stdinR, Stdout: out.writer(false), Stderr: out.writer(true),
	})
	if err != nil {
		return toConnect(err)
	}
	return out.send(&vimanav1.ExecStreamResponse{Exited: true, ExitCode: int32(code)})
}

func windowSize(t *vimanav1.TerminalSize) hypercore.WindowSize {
	if t == nil || t.Rows > 0xffff || t.Cols > 0xffff {
		return hypercore.WindowSize{}
	}
	return hypercore.WindowSize{Rows: uint16(t.Rows), Cols: uint16(t.Cols)}
}

// streamSender serialises Sends from the provider's stdout and stderr
// copiers.
type streamSender struct {
	mu     sync.Mutex
	stream *connect.BidiStream[vimanav1.ExecStreamRequest, vimanav1.ExecStreamResponse]
}

func (s *streamSender) send(m *vimanav1.ExecStreamResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}

func (s *streamSender) writer(stderr bool) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		b := append([]byte(nil), p...)
		m := &vimanav1.ExecStreamResponse{Stdout: b}
		if stderr {
			m = &vimanav1.ExecStreamResponse{Stderr: b}
		}
		if err := s.send(m); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// ExecIO is the local end of an interactive exec.
type ExecIO struct {
	Stdin  io.Reader // nil: no input (end of stdin is sent at once)
	Stdout io.Writer
	Stderr io.Writer // with a TTY everything arrives on Stdout
	// Resize, when set, sends terminal size changes until the call ends.
	Resize <-chan *vimanav1.TerminalSize
}

// Exec runs start over ExecStream, wiring it to io, and returns the
// process's exit code. It needs HTTP/2 (DialUnix and DialTCP speak h2c).
func (c *Client) Exec(ctx context.Context, start *vimanav1.ExecStart, o ExecIO) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := c.Spacecores.ExecStream(ctx)
	var mu sync.Mutex // Send is not safe for concurrent use
	send := func(m *vimanav1.ExecStreamRequest) error {
		mu.Lock()
		defer mu.Unlock()
		return st.Send(m)
	}
	if err := send(&vimanav1.ExecStreamRequest{Start: start}); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	go func() {
		if o.Stdin != nil {
			buf := make([]byte, 32<<10)
			for {
				n, err := o.Stdin.Read(buf)
				if n > 0 && send(&vimanav1.ExecStreamRequest{Stdin: append([]byte(nil), buf[:n]...)}) != nil {
					return
				}
				if err != nil {
					break
				}
			}
		}
		_ = send(&vimanav1.ExecStreamRequest{StdinEof: true})
	}()
	if o.Resize != nil {
		go func() {
			for {
				select {
				case sz := <-o.Resize:
					if send(&vimanav1.ExecStreamRequest{Resize: sz}) != nil {
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	for {
		msg, err := st.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("exec stream ended without an exit status")
			}
			return 0, err
		}
		if len(msg.Stdout) > 0 {
			stdout.Write(msg.Stdout)
		}
		if len(msg.Stderr) > 0 {
			stderr.Write(msg.Stderr)
		}
		if msg.Exited {
			mu.Lock()
			_ = st.CloseRequest()
			mu.Unlock()
			_ = st.CloseResponse()
			return int(msg.ExitCode), nil
		}
	}
}
