package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
)

// outBuf collects output and lets a test wait for a piece of it.
type outBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newOutBuf() *outBuf { return &outBuf{changed: make(chan struct{}, 1)} }

func (o *outBuf) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (o *outBuf) String() string { o.mu.Lock(); defer o.mu.Unlock(); return o.b.String() }

// waitFor blocks until the output contains s (the deadline only turns a
// hang into a failure).
func (o *outBuf) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(o.String(), s) {
		select {
		case <-o.changed:
		case <-deadline:
			t.Fatalf("output never contained %q; got %q", s, o.String())
		}
	}
}

func runTW(t *testing.T, c *Client) string {
	t.Helper()
	run, err := c.Spacecores.Run(context.Background(), connect.NewRequest(&vimanav1.RunRequest{HacToml: hacTW, Filename: "/x/hac.toml"}))
	if err != nil {
		t.Fatal(err)
	}
	return run.Msg.Spacecore.Id
}

// TestExecStreamTTY: a signed interactive exec with a terminal gets its
// initial size, stdin lines, a resize, and the exit code.
func TestExecStreamTTY(t *testing.T) {
	e := setup(t)
	a := DialTCP(e.url, e.tenantA)
	id := runTW(t, a)
	stdinR, stdinW := io.Pipe()
	out := newOutBuf()
	resize := make(chan *vimanav1.TerminalSize)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := a.Exec(context.Background(), &vimanav1.ExecStart{Id: id, Args: []string{"/bin/tw", "tty"}, Tty: true,
			Size: &vimanav1.TerminalSize{Rows: 30, Cols: 100}}, ExecIO{Stdin: stdinR, Stdout: out, Resize: resize})
		done <- result{code, err}
	}()
	out.waitFor(t, "tty=true size=30x100")
	io.WriteString(stdinW, "hello\n")
	out.waitFor(t, "got: hello")
	resize <- &vimanav1.TerminalSize{Rows: 40, Cols: 120}
	out.waitFor(t, "resized=40x120")
	io.WriteString(stdinW, "exit 7\n")
	r := <-done
	if r.err != nil || r.code != 7 {
		t.Fatalf("Exec = %d, %v; want 7; output %q", r.code, r.err, out.String())
	}
}

// TestExecStreamPipes: without a terminal, stdin ends with the client's
// input and stdout and stderr stay apart.
func TestExecStreamPipes(t *testing.T) {
	e := setup(t)
	a := DialTCP(e.url, e.tenantA)
	id := runTW(t, a)
	out := newOutBuf()
	code, err := a.Exec(context.Background(), &vimanav1.ExecStart{Id: id, Args: []string{"/bin/tw", "tty"}},
		ExecIO{Stdin: strings.NewReader("a\nb\n"), Stdout: out})
	if err != nil || code != 0 || out.String() != "tty=false size=none\ngot: a\ngot: b\n" {
		t.Fatalf("Exec = %d, %v, output %q", code, err, out.String())
	}
	var so, se bytes.Buffer
	code, err = a.Exec(context.Background(), &vimanav1.ExecStart{Id: id, Args: []string{"/bin/tw", "echo", "x"}}, ExecIO{Stdout: &so, Stderr: &se})
	if err != nil || code != 0 || so.String() != "x\n" || se.String() != "stderr: x\n" {
		t.Fatalf("echo: %d, %v, stdout %q, stderr %q", code, err, so.String(), se.String())
	}
}

// TestExecStreamAuth: the stream's opening signature is checked like any
// request's, and a tenant cannot exec into another's spacecore.
func TestExecStreamAuth(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id := runTW(t, DialTCP(e.url, e.tenantA))
	start := &vimanav1.ExecStart{Id: id, Args: []string{"/bin/tw", "echo", "x"}}
	if _, err := DialTCP(e.url, e.tenantB).Exec(ctx, start, ExecIO{}); code(err) != connect.CodeNotFound {
		t.Errorf("B's exec into A's spacecore: %v, want not_found", err)
	}
	if _, err := DialTCP(e.url, e.stranger).Exec(ctx, start, ExecIO{}); code(err) != connect.CodePermissionDenied {
		t.Errorf("unknown key: %v, want permission_denied", err)
	}
	unsigned := newClient(&http.Client{Transport: h2c(&http.Transport{})}, e.url)
	if _, err := unsigned.Exec(ctx, start, ExecIO{}); code(err) != connect.CodeUnauthenticated {
		t.Errorf("unsigned: %v, want unauthenticated", err)
	}
	// A stopped spacecore has nothing to exec into.
	a := DialTCP(e.url, e.tenantA)
	if _, err := a.Spacecores.Stop(ctx, connect.NewRequest(&vimanav1.StopRequest{Id: id, GraceSeconds: 5})); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, start, ExecIO{Stdin: strings.NewReader("x")}); code(err) != connect.CodeFailedPrecondition {
		t.Errorf("exec into a stopped spacecore: %v, want failed_precondition", err)
	}
	// A stream that does not open with start is refused.
	st := DialTCP(e.url, e.tenantA).Spacecores.ExecStream(ctx)
	st.Send(&vimanav1.ExecStreamRequest{Stdin: []byte("x")})
	st.CloseRequest()
	if _, err := st.Receive(); code(err) != connect.CodeInvalidArgument {
		t.Errorf("no start: %v, want invalid_argument", err)
	}
}
