package gvisor

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run creates and starts a machine, deleting it (and checking the host is
// clean) when the test ends.
func run(t *testing.T, p *Provider, id string, spec hypercore.MachineSpec) {
	t.Helper()
	if err := p.Create(ctxFor(t), id, spec); err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := p.Delete(context.Background(), id); err != nil {
			t.Errorf("Delete %s: %v", id, err)
		}
		checkClean(t, p, id)
	})
	if err := p.Start(ctxFor(t), id); err != nil {
		t.Fatalf("Start %s: %v", id, err)
	}
}

func twSpec(t *testing.T, args ...string) hypercore.MachineSpec {
	return hypercore.MachineSpec{
		Name:      "gv",
		RootFS:    hypercoretest.WorkloadRootFS(t),
		Process:   hypercore.Process{Args: append([]string{hypercoretest.TW}, args...), Env: []string{"PATH=/bin"}},
		Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: 128 << 20, DiskBytes: 64 << 20, Pids: 64},
		Isolation: hypercore.IsolationGVisor,
	}
}

// TestPrefixIDs: runsc resolves container ids by prefix, so machine "x"
// must never address machine "x1"'s sandbox (or the reverse).
func TestPrefixIDs(t *testing.T) {
	p := newTestProvider(t)
	short := hypercoretest.NewID("px")
	long := short + "1"
	if a, b := runscID(short), runscID(long); len(a) != len(b) || strings.HasPrefix(b, a) {
		t.Fatalf("runsc ids %q and %q: one is a prefix of the other", a, b)
	}
	run(t, p, long, twSpec(t, "sleep"))
	run(t, p, short, twSpec(t, "sleep"))
	ctx := ctxFor(t)
	// Stop the short one: the long one must keep running, and the
	// reverse.
	if err := p.Stop(ctx, short, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, err := p.State(ctx, long); err != nil || st.State != hypercore.StateRunning {
		t.Fatalf("stopping %s touched %s: %+v %v", short, long, st, err)
	}
	var out strings.Builder
	if code, err := p.Exec(ctx, long, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "echo", "long"}, Stdout: &out}); err != nil || code != 0 || strings.TrimSpace(out.String()) != "long" {
		t.Fatalf("exec in %s = %d %v %q", long, code, err, out.String())
	}
	if err := p.Stop(ctx, long, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestHelloHTTP runs the examples/hello image under gVisor and GETs it
// through the published port.
func TestHelloHTTP(t *testing.T) {
	p := newTestProvider(t)
	bin := imagetest.GoBinary(t, "./examples/hello")
	img, err := image.Build(image.BuildOptions{Binary: bin, Path: "/hello", Ports: []string{"8080"}})
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	if err := image.WriteLayout(img, layout, "latest"); err != nil {
		t.Fatal(err)
	}
	st, err := image.Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := st.Pull(ctxFor(t), "oci-layout:"+layout+":latest", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := hypercoretest.NewID("hello")
	spec := hypercore.MachineSpec{
		Name:      "hello",
		RootFS:    pulled.RootFS,
		Process:   hypercore.Process{Args: append(pulled.Config.Entrypoint, pulled.Config.Cmd...), Env: pulled.Config.Env},
		Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: 64 << 20, DiskBytes: 64 << 20, Pids: 64},
		Network:   hypercore.Network{Ports: []hypercore.Port{{Port: 8080, Protocol: "tcp"}}},
		Isolation: hypercore.IsolationGVisor,
	}
	run(t, p, id, spec)
	s, err := p.State(ctxFor(t), id)
	if err != nil || len(s.Ports) != 1 {
		t.Fatalf("State = %+v, %v", s, err)
	}
	body := hypercoretest.HTTPGet(t, "127.0.0.1", s.Ports[0].HostPort, 30*time.Second)
	if !strings.HasPrefix(body, "hello from hello") {
		t.Fatalf("GET / = %q", body)
	}
	// And the status code itself, once more, explicitly.
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(s.Ports[0].HostPort) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "ok" {
		t.Fatalf("GET /healthz = %d %q", resp.StatusCode, b)
	}
	// The workload logs into the machine's log.
	rc, err := p.Logs(ctxFor(t), id, hypercore.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(l), "hello listening on :8080") {
		t.Errorf("log = %q", l)
	}
}
