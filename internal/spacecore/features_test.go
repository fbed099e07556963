package spacecore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

func TestConcurrentCreates(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	const n = 16
	var wg sync.WaitGroup
	ids := make(chan string, n)
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			rec, err := s.Create(ctxT(t), CreateRequest{Name: fmt.Sprintf("c-%d", i), Owner: "k", Spec: twSpec("sleep")})
			if err != nil {
				errs <- err
				return
			}
			ids <- rec.ID
		})
	}
	var dupOK sync.WaitGroup
	var mu sync.Mutex
	okCount := 0
	for range n {
		dupOK.Add(1)
		go func() {
			defer dupOK.Done()
			_, err := s.Create(ctxT(t), CreateRequest{Name: "same", Owner: "k", Spec: twSpec("sleep")})
			switch {
			case err == nil:
				mu.Lock()
				okCount++
				mu.Unlock()
			case !errors.Is(err, hypercore.ErrAlreadyExists):
				errs <- err
			}
		}()
	}
	wg.Wait()
	dupOK.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("duplicate id %s", id)
		}
		seen[id] = true
	}
	if okCount != 1 {
		t.Errorf("%d creates of the same name succeeded, want 1", okCount)
	}
	if got := len(s.List(Filter{})); got != n+1 {
		t.Errorf("%d records, want %d", got, n+1)
	}
	if got := len(e.machines()); got != n+1 {
		t.Errorf("%d machines, want %d", got, n+1)
	}
	checkInvariants(t, e, s)
}

// admitter allows up to max spacecores.
type admitter struct {
	mu   sync.Mutex
	max  int
	held map[string]bool
}

func (a *admitter) Reserve(id string, _ hypercore.Resources) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.held[id] && len(a.held) >= a.max {
		return fmt.Errorf("need 500 milli-CPU, 0 free") // does not wrap ErrResources itself
	}
	a.held[id] = true
	return nil
}

func (a *admitter) Release(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.held, id)
}

func (a *admitter) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.held)
}

func TestAdmitter(t *testing.T) {
	e := newEnv(t)
	adm := &admitter{max: 1, held: map[string]bool{}}
	o := e.options()
	o.Admitter = adm
	s := e.openWith(o)
	first := create(t, s, "first", RestartAlways, "sleep")
	_, err := s.Create(ctxT(t), CreateRequest{Name: "second", Spec: twSpec("sleep")})
	if !errors.Is(err, hypercore.ErrResources) || !strings.Contains(err.Error(), "does not fit on this node") {
		t.Fatalf("Create over capacity = %v, want ErrResources with a clear sentence", err)
	}
	if len(s.List(Filter{})) != 1 || len(e.machines()) != 1 {
		t.Fatalf("a refused create left state behind")
	}
	// A stopped spacecore holds no resources.
	if err := s.Stop(ctxT(t), first.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	second := create(t, s, "second", RestartAlways, "sleep")
	if err := s.Start(ctxT(t), first.ID); !errors.Is(err, hypercore.ErrResources) {
		t.Fatalf("Start over capacity = %v", err)
	}
	if r, _ := s.Get(first.ID); r.Phase != PhaseFailed || r.LastError == "" {
		t.Errorf("refused start: %+v", r)
	}
	if err := s.Remove(ctxT(t), second.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctxT(t), first.ID); err != nil {
		t.Fatalf("Start after room was made: %v", err)
	}
	if adm.count() != 1 {
		t.Errorf("%d reservations, want 1", adm.count())
	}
	// A new daemon re-reserves what it adopts.
	s.Close()
	adm2 := &admitter{max: 1, held: map[string]bool{}}
	o.Admitter = adm2
	s2 := e.openWith(o)
	if err := s2.settle(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if adm2.count() != 1 {
		t.Errorf("after reopen %d reservations, want 1", adm2.count())
	}
}

// resolver serves one image from a directory.
type resolver struct {
	rootfs string
	digest string
	calls  int
	mu     sync.Mutex
}

func (r *resolver) Resolve(_ context.Context, ref, digest string, o Override) (Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if ref != "example/tw:1" {
		return Image{}, fmt.Errorf("pulling %s: %w", ref, hypercore.ErrNotFound)
	}
	if err := os.MkdirAll(r.rootfs, 0o755); err != nil {
		return Image{}, err
	}
	args := []string{"/bin/tw", "echo", "from-image"}
	if len(o.Args) > 0 {
		args = append([]string{"/bin/tw"}, o.Args...)
	}
	return Image{Digest: r.digest, RootFS: r.rootfs, Process: hypercore.Process{Args: args, Env: o.Env}}, nil
}

func TestResolver(t *testing.T) {
	e := newEnv(t)
	res := &resolver{rootfs: filepath.Join(e.dir, "rootfs"), digest: "sha256:abc"}
	o := e.options()
	o.Resolver = res
	s := e.openWith(o)
	rec, err := s.Create(ctxT(t), CreateRequest{Name: "img", ImageRef: "example/tw:1", Override: Override{Args: []string{"sleep"}}, Restart: RestartAlways})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ImageDigest != "sha256:abc" || rec.Spec.RootFS != res.rootfs || rec.Spec.Process.Args[1] != "sleep" {
		t.Fatalf("resolved record = %+v", rec)
	}
	if _, err := s.Create(ctxT(t), CreateRequest{Name: "bad", ImageRef: "example/nope:1"}); !errors.Is(err, hypercore.ErrNotFound) {
		t.Errorf("Create with unknown image = %v", err)
	}
	// The unpacked rootfs vanished (cache cleaned): a restart re-resolves,
	// pinned to the recorded digest.
	if err := os.RemoveAll(res.rootfs); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctxT(t), rec.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctxT(t), rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(res.rootfs); err != nil {
		t.Errorf("rootfs not re-resolved: %v", err)
	}
	// A digest that moved fails the start instead of running other code.
	res.mu.Lock()
	res.digest = "sha256:def"
	res.mu.Unlock()
	os.RemoveAll(res.rootfs)
	s.Stop(ctxT(t), rec.ID, time.Second)
	if err := s.Start(ctxT(t), rec.ID); !errors.Is(err, hypercore.ErrInvalid) {
		t.Errorf("Start with a moved digest = %v, want ErrInvalid", err)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	o := e.options()
	o.Registry = reg
	s := e.openWith(o)
	create(t, s, "a", RestartAlways, "sleep")
	crashy := create(t, s, "b", RestartAlways, "exit", "1")
	r := waitPhase(t, s, crashy.ID, PhaseBackoff)
	waitFor(t, "timer", func() bool { return e.clock.hasTimerAt(r.RestartAt) })
	e.clock.Advance(time.Second)
	waitRecord(t, s, crashy.ID, "restart", func(r Record) bool { return r.RestartCount == 1 })

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "vimana_spacecore_spacecores":
				if m.GetLabel()[0].GetValue() == "running" && m.GetGauge().GetValue() < 1 {
					t.Errorf("running gauge = %v", m.GetGauge().GetValue())
				}
			case "vimana_spacecore_restarts_total":
				if m.GetCounter().GetValue() != 1 {
					t.Errorf("restarts = %v, want 1", m.GetCounter().GetValue())
				}
			case "vimana_spacecore_start_seconds":
				if m.GetHistogram().GetSampleCount() < 3 {
					t.Errorf("start latency samples = %d, want >= 3", m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	for _, n := range []string{"vimana_spacecore_spacecores", "vimana_spacecore_start_seconds", "vimana_spacecore_restarts_total"} {
		if !names[n] {
			t.Errorf("metric %s not registered", n)
		}
	}
	// A second supervisor on the same registry is a configuration error.
	o2 := newEnv(t).options()
	o2.Registry = reg
	if _, err := Open(context.Background(), o2); err == nil {
		t.Error("double registration not reported")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), Options{}); !errors.Is(err, hypercore.ErrInvalid) {
		t.Errorf("Open without options = %v", err)
	}
	e := newEnv(t)
	e.open()
	o := e.options()
	if _, err := Open(context.Background(), o); !errors.Is(err, hypercore.ErrUnavailable) {
		t.Errorf("second Open on the same database = %v, want ErrUnavailable", err)
	}
}
