package microvm

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

func TestDebugRun(t *testing.T) {
	args := os.Getenv("DEBUG_ARGS")
	if args == "" {
		t.Skip()
	}
	p := newTestProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	id := hypercoretest.NewID("dbg")
	spec := hypercore.MachineSpec{
		Name: "dbg", RootFS: hypercoretest.WorkloadRootFS(t),
		Process:   hypercore.Process{Args: append([]string{hypercoretest.TW}, strings.Fields(args)...), Env: []string{"PATH=/bin"}},
		Resources: hypercore.Resources{MemoryBytes: 64 << 20, Pids: 48},
	}
	if err := p.Create(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	defer p.Delete(context.Background(), id)
	if err := p.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	time.Sleep(5 * time.Second)
	for _, f := range []string{"memory.max", "memory.current", "memory.events", "cgroup.procs", "pids.max"} {
		var out strings.Builder
		code, err := p.Exec(ctx, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "cat", "/sys/fs/cgroup/workload/" + f}, Stdout: &out, Stderr: &out})
		t.Logf("%s: %d %v %q", f, code, err, out.String())
	}
	ex, err := p.Wait(ctx, id)
	t.Logf("Wait = %+v, %v", ex, err)
	t.Logf("console:\n%s", tail(p.path(id, fileConsole)))
	t.Logf("log:\n%s", tail(p.path(id, fileLog)))
}
