package sandboxtest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
	"github.com/vistara-labs/vimana/internal/hypercore/sandbox"
	"github.com/vistara-labs/vimana/internal/spacecore"
)

func TestMain(m *testing.M) {
	// The test binary is also the container init.
	if sandbox.Reexec() {
		return
	}
	os.Exit(m.Run())
}

func newProvider(t *testing.T, dir string) *sandbox.Provider {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the sandbox needs root (cgroups, namespaces, iptables); CI runs this as root")
	}
	if testing.Short() {
		t.Skip("starts real containers; skipped with -short")
	}
	p, err := sandbox.New(dir, sandbox.Options{NoSeccomp: !seccompBuilt})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Probe(context.Background()); err != nil {
		t.Skipf("sandbox unavailable here: %v", err)
	}
	return p
}

func open(t *testing.T, home string, p hypercore.Provider) *spacecore.Supervisor {
	t.Helper()
	s, err := spacecore.Open(context.Background(), spacecore.Options{
		DBPath:    filepath.Join(home, "spacecore.db"),
		LogDir:    filepath.Join(home, "logs"),
		Providers: map[hypercore.Isolation]hypercore.Provider{hypercore.IsolationSandbox: p},
		Backoff:   spacecore.Backoff{Base: 100 * time.Millisecond, Max: time.Second},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitRunning(t *testing.T, s *spacecore.Supervisor, id string) spacecore.Record {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // readiness wait
	for {
		rec, err := s.Get(id)
		if err == nil && rec.Phase == spacecore.PhaseRunning {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never running: %+v, %v", id, rec, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, s *spacecore.Supervisor, id string) string {
	t.Helper()
	st, err := s.Status(context.Background(), id)
	if err != nil || len(st.Ports) != 1 || st.Ports[0].HostPort == 0 {
		t.Fatalf("Status = %+v, %v; want one published port", st, err)
	}
	return hypercoretest.HTTPGet(t, "127.0.0.1", st.Ports[0].HostPort, 30*time.Second)
}

func TestSupervisorOnSandbox(t *testing.T) {
	home, pdir := t.TempDir(), t.TempDir()
	p := newProvider(t, pdir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := open(t, home, p)
	rec, err := s.Create(ctx, spacecore.CreateRequest{
		Name: "hello", Owner: "key-1", Restart: spacecore.RestartAlways,
		Spec: hypercore.MachineSpec{
			RootFS:    hypercoretest.WorkloadRootFS(t),
			Process:   hypercore.Process{Args: []string{hypercoretest.TW, "http", "8080"}},
			Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: 128 << 20, DiskBytes: 64 << 20, Pids: 64},
			Network:   hypercore.Network{Ports: []hypercore.Port{{Port: 8080, Protocol: "tcp"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Delete(context.Background(), rec.ID) })
	if body := get(t, s, rec.ID); !strings.HasPrefix(body, "ok ") {
		t.Fatalf("GET = %q", body)
	}

	// A daemon restart: new supervisor, new provider value, same state.
	s.Close()
	p2, err := sandbox.New(pdir, sandbox.Options{NoSeccomp: !seccompBuilt})
	if err != nil {
		t.Fatal(err)
	}
	s2 := open(t, home, p2)
	got := waitRunning(t, s2, rec.ID)
	if got.RestartCount != 0 || got.Incarnation != 1 {
		t.Errorf("after restart: %+v, want adopted, not restarted", got)
	}
	if body := get(t, s2, rec.ID); !strings.HasPrefix(body, "ok ") {
		t.Fatalf("GET after daemon restart = %q", body)
	}
	if n := len(s2.List(spacecore.Filter{})); n != 1 {
		t.Errorf("%d records after restart, want 1", n)
	}

	if err := s2.Remove(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := p2.List(ctx); len(ids) != 0 {
		t.Errorf("machines left after Remove: %v", ids)
	}
}
