package microvm

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// TestBootEcho is the smallest end-to-end check: boot, run, log, exit.
func TestBootEcho(t *testing.T) {
	p := newTestProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := hypercoretest.NewID("smoke")
	spec := hypercore.MachineSpec{
		Name: "smoke", RootFS: hypercoretest.WorkloadRootFS(t),
		Process:   hypercore.Process{Args: []string{hypercoretest.TW, "echo", "hi"}, Env: []string{"PATH=/bin"}},
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
	start := time.Now()
	if err := p.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v\nconsole:\n%s", err, tail(p.path(id, fileConsole)))
	}
	t.Logf("started in %v", time.Since(start))
	ex, err := p.Wait(ctx, id)
	if err != nil || ex.Code != 0 {
		t.Fatalf("Wait = %+v, %v\nconsole:\n%s", ex, err, tail(p.path(id, fileConsole)))
	}
	t.Logf("exited after %v", time.Since(start))
	if os.Getenv("VIMANA_MICROVM_DEBUG") != "" {
		b, _ := os.ReadFile(p.path(id, fileConsole))
		t.Logf("console:\n%s", b)
	}
	rc, _ := p.Logs(ctx, id, hypercore.LogOptions{})
	b := new(bytes.Buffer)
	_, _ = b.ReadFrom(rc)
	rc.Close()
	if !strings.Contains(b.String(), "hi") {
		t.Errorf("log = %q", b.String())
	}
}
