package microvm

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

func TestExecTTY(t *testing.T) {
	p := newTestProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := hypercoretest.NewID("tty")
	spec := hypercore.MachineSpec{
		Name: "tty", RootFS: hypercoretest.WorkloadRootFS(t),
		Process:   hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}},
		Resources: hypercore.Resources{MemoryBytes: 64 << 20, Pids: 64},
	}
	if err := p.Create(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Delete(context.Background(), id); err != nil {
			t.Error(err)
		}
		checkClean(t, p, id)
	}()
	if err := p.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code, err := p.Exec(ctx, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "echo", "hello", "tty"}, TTY: true, Stdout: &out})
	// A terminal turns \n into \r\n and merges stderr into the output.
	if err != nil || code != 0 || !strings.Contains(out.String(), "hello tty\r\n") || !strings.Contains(out.String(), "stderr: hello tty") {
		t.Errorf("tty exec = %d, %v, %q", code, err, out.String())
	}
	// Interactive: size, a resize, input, and the exit code typed in.
	resize := make(chan hypercore.WindowSize, 1)
	inR, inW := io.Pipe()
	out.Reset()
	done := make(chan struct{})
	var code2 int
	var err2 error
	go func() {
		defer close(done)
		code2, err2 = p.Exec(ctx, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "tty"}, TTY: true,
			Size: hypercore.WindowSize{Rows: 30, Cols: 100}, Resize: resize, Stdin: inR, Stdout: &syncBuf{b: &out}})
	}()
	waitFor := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Contains(outString(&out), want) {
				return
			}
		}
		t.Fatalf("tty output never contained %q: %q", want, outString(&out))
	}
	waitFor("tty=true size=30x100")
	resize <- hypercore.WindowSize{Rows: 40, Cols: 120}
	waitFor("resized=40x120")
	io.WriteString(inW, "ping\n")
	waitFor("got: ping")
	io.WriteString(inW, "exit 3\n")
	<-done
	if err2 != nil || code2 != 3 {
		t.Errorf("interactive tty exec = %d, %v; output %q", code2, err2, outString(&out))
	}
}

var outMu = make(chan struct{}, 1)

// syncBuf lets the test read what Exec is writing.
type syncBuf struct{ b *bytes.Buffer }

func (s *syncBuf) Write(p []byte) (int, error) {
	outMu <- struct{}{}
	defer func() { <-outMu }()
	return s.b.Write(p)
}

func outString(b *bytes.Buffer) string {
	outMu <- struct{}{}
	defer func() { <-outMu }()
	return b.String()
}
