package hypercoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Options tunes the suite to a provider.
type Options struct {
	// RootFS is the rootfs to run /bin/tw from; default WorkloadRootFS.
	RootFS string
	// Timeout bounds each blocking step; default 30s (microVMs under TCG
	// want more).
	Timeout time.Duration
	// Reopen, when set, returns a new Provider value over the same state
	// as the first one (a daemon restart); used when the provider claims
	// SurvivesCrash.
	Reopen func(t *testing.T) hypercore.Provider
	// CheckClean, when set, asserts that nothing of machine id is left on
	// the host after Delete (cgroups, mounts, devices, rules, files).
	CheckClean func(t *testing.T, id string)
	// Concurrency is how many machines the concurrent-create test starts;
	// default 8.
	Concurrency int
}

// Run runs the conformance suite against providers made by newProvider.
// Every subtest makes its own machines with unique ids and deletes them.
func Run(t *testing.T, newProvider func(t *testing.T) hypercore.Provider, opts Options) {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 8
	}
	p := newProvider(t)
	if err := p.Probe(context.Background()); err != nil {
		t.Skipf("provider %s unavailable here: %v", p.Name(), err)
	}
	if opts.RootFS == "" {
		opts.RootFS = WorkloadRootFS(t)
	}
	s := &suite{p: p, o: opts}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Lifecycle", s.testLifecycle},
		{"ExitCode", s.testExitCode},
		{"EnvCwd", s.testEnvCwd},
		{"Logs", s.testLogs},
		{"LogsFollow", s.testLogsFollow},
		{"Exec", s.testExec},
		{"StopGrace", s.testStopGrace},
		{"StopKill", s.testStopKill},
		{"Errors", s.testErrors},
		{"MissingBinary", s.testMissingBinary},
		{"MemoryLimit", s.testMemoryLimit},
		{"PidsLimit", s.testPidsLimit},
		{"Stats", s.testStats},
		{"PortPublish", s.testPortPublish},
		{"ConcurrentCreates", s.testConcurrent},
		{"Reopen", s.testReopen},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	p hypercore.Provider
	o Options
}

// NewID returns a unique machine id with a readable prefix.
func NewID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ToLower(prefix) + "-" + hex.EncodeToString(b)
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) spec(args ...string) hypercore.MachineSpec {
	return hypercore.MachineSpec{
		Name:      "conformance",
		RootFS:    s.o.RootFS,
		Process:   hypercore.Process{Args: append([]string{TW}, args...), Env: []string{"PATH=/bin"}},
		Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: 128 << 20, DiskBytes: 64 << 20, Pids: 64},
		Isolation: s.p.Capabilities().Isolation,
	}
}

// create makes a machine and registers its deletion (and the cleanliness
// check) with t.Cleanup.
func (s *suite) create(t *testing.T, spec hypercore.MachineSpec) string {
	t.Helper()
	id := NewID("ct")
	if err := s.p.Create(s.ctx(t), id, spec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
		defer cancel()
		if err := s.p.Delete(ctx, id); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
			t.Errorf("Delete %s: %v", id, err)
		}
		if s.o.CheckClean != nil {
			s.o.CheckClean(t, id)
		}
	})
	return id
}

func (s *suite) run(t *testing.T, spec hypercore.MachineSpec) string {
	t.Helper()
	id := s.create(t, spec)
	if err := s.p.Start(s.ctx(t), id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return id
}

func (s *suite) wait(t *testing.T, id string) hypercore.ExitStatus {
	t.Helper()
	st, err := s.p.Wait(s.ctx(t), id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

func (s *suite) logs(t *testing.T, id string) string {
	t.Helper()
	rc, err := s.p.Logs(s.ctx(t), id, hypercore.LogOptions{})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading logs: %v", err)
	}
	return string(b)
}

// waitLog polls the log until it contains want: a readiness wait, not a
// timing assertion.
func (s *suite) waitLog(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(s.o.Timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(s.logs(t, id), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("log of %s never contained %q; log:\n%s", id, want, s.logs(t, id))
}

func (s *suite) testLifecycle(t *testing.T) {
	t.Parallel()
	ctx := s.ctx(t)
	id := s.create(t, s.spec("echo", "hello"))
	st, err := s.p.State(ctx, id)
	if err != nil || st.State != hypercore.StateCreated {
		t.Fatalf("State after Create = %+v, %v; want created", st, err)
	}
	ids, err := s.p.List(ctx)
	if err != nil || !slices.Contains(ids, id) {
		t.Fatalf("List = %v, %v; want it to contain %s", ids, err, id)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("List not sorted: %v", ids)
	}
	if err := s.p.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if ex := s.wait(t, id); ex.Code != 0 || ex.Signal != 0 {
		t.Fatalf("exit = %+v, want code 0", ex)
	}
	st, err = s.p.State(ctx, id)
	if err != nil || st.State != hypercore.StateStopped || st.Exit == nil || st.Exit.Code != 0 {
		t.Fatalf("State after exit = %+v, %v; want stopped with code 0", st, err)
	}
	if err := s.p.Delete(ctx, id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.p.State(ctx, id); !errors.Is(err, hypercore.ErrNotFound) {
		t.Fatalf("State after Delete: err = %v, want ErrNotFound", err)
	}
	ids, _ = s.p.List(ctx)
	if slices.Contains(ids, id) {
		t.Fatalf("List after Delete still has %s", id)
	}
}

func (s *suite) testExitCode(t *testing.T) {
	t.Parallel()
	for _, code := range []int{0, 1, 7, 42} {
		id := s.run(t, s.spec("exit", itoa(code)))
		if ex := s.wait(t, id); ex.Code != code {
			t.Errorf("tw exit %d: got %+v", code, ex)
		}
	}
}

func (s *suite) testEnvCwd(t *testing.T) {
	t.Parallel()
	spec := s.spec("env")
	spec.Process.Env = append(spec.Process.Env, "VIMANA_CONFORMANCE=yes-42")
	id := s.run(t, spec)
	s.wait(t, id)
	if l := s.logs(t, id); !strings.Contains(l, "VIMANA_CONFORMANCE=yes-42") {
		t.Errorf("env not passed; log:\n%s", l)
	}
	spec = s.spec("pwd")
	spec.Process.Cwd = "/tmp"
	id = s.run(t, spec)
	s.wait(t, id)
	if l := s.logs(t, id); strings.TrimSpace(l) != "/tmp" {
		t.Errorf("cwd: log %q, want /tmp", l)
	}
}

func (s *suite) testLogs(t *testing.T) {
	t.Parallel()
	id := s.run(t, s.spec("echo", "out-line", "x"))
	s.wait(t, id)
	l := s.logs(t, id)
	if !strings.Contains(l, "out-line x\n") || !strings.Contains(l, "stderr: out-line x\n") {
		t.Errorf("logs miss stdout or stderr:\n%s", l)
	}
}

func (s *suite) testLogsFollow(t *testing.T) {
	t.Parallel()
	id := s.run(t, s.spec("sleep"))
	s.waitLog(t, id, "sleeping")
	rc, err := s.p.Logs(s.ctx(t), id, hypercore.LogOptions{Follow: true})
	if err != nil {
		t.Fatalf("Logs follow: %v", err)
	}
	defer rc.Close()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(rc)
		got <- string(b)
	}()
	if err := s.p.Stop(s.ctx(t), id, s.o.Timeout/2); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case l := <-got:
		if !strings.Contains(l, "sleeping") || !strings.Contains(l, "got SIGTERM") {
			t.Errorf("followed log = %q; want both lines", l)
		}
	case <-s.ctx(t).Done():
		t.Fatal("followed log did not end after the machine stopped")
	}
}

func (s *suite) testExec(t *testing.T) {
	t.Parallel()
	if !s.p.Capabilities().Exec {
		t.Skip("provider does not support exec")
	}
	ctx := s.ctx(t)
	id := s.run(t, s.spec("sleep"))
	s.waitLog(t, id, "sleeping")
	var out bytes.Buffer
	code, err := s.p.Exec(ctx, id, hypercore.ExecRequest{Args: []string{TW, "echo", "from-exec"}, Stdout: &out, Stderr: io.Discard})
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "from-exec" {
		t.Fatalf("Exec echo = %d, %v, %q", code, err, out.String())
	}
	code, err = s.p.Exec(ctx, id, hypercore.ExecRequest{Args: []string{TW, "exit", "5"}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil || code != 5 {
		t.Fatalf("Exec exit 5 = %d, %v", code, err)
	}
	out.Reset()
	code, err = s.p.Exec(ctx, id, hypercore.ExecRequest{Args: []string{TW, "cat", "/dev/stdin"}, Stdin: strings.NewReader("piped-in"), Stdout: &out, Stderr: io.Discard})
	if err != nil || code != 0 || out.String() != "piped-in" {
		t.Fatalf("Exec with stdin = %d, %v, %q", code, err, out.String())
	}
	if err := s.p.Stop(ctx, id, s.o.Timeout/2); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := s.p.Exec(ctx, id, hypercore.ExecRequest{Args: []string{TW, "exit", "0"}}); !errors.Is(err, hypercore.ErrState) {
		t.Fatalf("Exec on a stopped machine: err = %v, want ErrState", err)
	}
}

func (s *suite) testStopGrace(t *testing.T) {
	t.Parallel()
	id := s.run(t, s.spec("sleep"))
	s.waitLog(t, id, "sleeping")
	if err := s.p.Stop(s.ctx(t), id, s.o.Timeout/2); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	ex := s.wait(t, id)
	if ex.Code != 0 || ex.Signal != 0 {
		t.Errorf("graceful stop exit = %+v, want 0 (workload exits 0 on SIGTERM)", ex)
	}
	if l := s.logs(t, id); !strings.Contains(l, "got SIGTERM") {
		t.Errorf("workload never saw SIGTERM; log:\n%s", l)
	}
	// Stopping again is not an error.
	if err := s.p.Stop(s.ctx(t), id, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func (s *suite) testStopKill(t *testing.T) {
	t.Parallel()
	id := s.run(t, s.spec("ignore-term"))
	s.waitLog(t, id, "ignoring SIGTERM")
	if err := s.p.Stop(s.ctx(t), id, 200*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	ex := s.wait(t, id)
	if ex.Signal != 9 || ex.Code != 137 {
		t.Errorf("kill after grace: exit = %+v, want signal 9 / code 137", ex)
	}
	st, err := s.p.State(s.ctx(t), id)
	if err != nil || st.State != hypercore.StateStopped {
		t.Errorf("State after kill = %+v, %v", st, err)
	}
}

func (s *suite) testErrors(t *testing.T) {
	t.Parallel()
	ctx := s.ctx(t)
	if err := s.p.Create(ctx, "Bad_ID", s.spec("exit", "0")); !errors.Is(err, hypercore.ErrInvalid) {
		t.Errorf("Create with a bad id: %v, want ErrInvalid", err)
	}
	bad := s.spec()
	bad.Process.Args = nil
	if err := s.p.Create(ctx, NewID("ct"), bad); !errors.Is(err, hypercore.ErrInvalid) {
		t.Errorf("Create without args: %v, want ErrInvalid", err)
	}
	missing := NewID("ct")
	for name, err := range map[string]error{
		"State":  func() error { _, err := s.p.State(ctx, missing); return err }(),
		"Start":  s.p.Start(ctx, missing),
		"Stop":   s.p.Stop(ctx, missing, time.Second),
		"Delete": s.p.Delete(ctx, missing),
		"Wait":   func() error { _, err := s.p.Wait(ctx, missing); return err }(),
		"Logs":   func() error { _, err := s.p.Logs(ctx, missing, hypercore.LogOptions{}); return err }(),
		"Stats":  func() error { _, err := s.p.Stats(ctx, missing); return err }(),
	} {
		if !errors.Is(err, hypercore.ErrNotFound) {
			t.Errorf("%s of an unknown id: %v, want ErrNotFound", name, err)
		}
	}
	id := s.create(t, s.spec("sleep"))
	if err := s.p.Create(ctx, id, s.spec("sleep")); !errors.Is(err, hypercore.ErrAlreadyExists) {
		t.Errorf("second Create: %v, want ErrAlreadyExists", err)
	}
	if err := s.p.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.p.Start(ctx, id); !errors.Is(err, hypercore.ErrState) {
		t.Errorf("Start of a running machine: %v, want ErrState", err)
	}
}

func (s *suite) testMissingBinary(t *testing.T) {
	t.Parallel()
	spec := s.spec()
	spec.Process.Args = []string{"/bin/does-not-exist"}
	id := s.create(t, spec)
	if err := s.p.Start(s.ctx(t), id); err != nil {
		return // refusing at Start is fine
	}
	if ex := s.wait(t, id); ex.Code == 0 {
		t.Errorf("missing binary exited 0")
	}
}

func (s *suite) testMemoryLimit(t *testing.T) {
	t.Parallel()
	if !s.p.Capabilities().MemoryLimit {
		t.Skip("provider does not enforce memory")
	}
	spec := s.spec("memhog", "512")
	spec.Resources.MemoryBytes = 64 << 20
	id := s.run(t, spec)
	ex := s.wait(t, id)
	if !ex.OOMKilled && ex.Code != 137 {
		t.Errorf("memhog 512 MiB under a 64 MiB limit: exit %+v; log:\n%s", ex, s.logs(t, id))
	}
}

func (s *suite) testPidsLimit(t *testing.T) {
	t.Parallel()
	if !s.p.Capabilities().PidsLimit {
		t.Skip("provider does not enforce pids")
	}
	spec := s.spec("forkbomb", "500")
	spec.Resources.Pids = 48
	id := s.run(t, spec)
	ex := s.wait(t, id)
	if ex.Code != 0 || !strings.Contains(s.logs(t, id), "forkbomb stopped after") {
		t.Errorf("fork bomb not held by pids=48: exit %+v; log:\n%s", ex, s.logs(t, id))
	}
}

func (s *suite) testStats(t *testing.T) {
	t.Parallel()
	id := s.run(t, s.spec("sleep"))
	s.waitLog(t, id, "sleeping")
	st, err := s.p.Stats(s.ctx(t), id)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	caps := s.p.Capabilities()
	if caps.MemoryLimit && (st.MemoryBytes == 0 || st.MemoryLimit != 128<<20) {
		t.Errorf("Stats memory = %d / limit %d, want >0 / %d", st.MemoryBytes, st.MemoryLimit, 128<<20)
	}
	if caps.PidsLimit && st.Pids == 0 {
		t.Errorf("Stats pids = 0 for a running machine")
	}
}

func (s *suite) testPortPublish(t *testing.T) {
	t.Parallel()
	if !s.p.Capabilities().PortPublish {
		t.Skip("provider does not publish ports")
	}
	spec := s.spec("http", "8080")
	spec.Network.Ports = []hypercore.Port{{Port: 8080, Protocol: "tcp"}}
	id := s.run(t, spec)
	st, err := s.p.State(s.ctx(t), id)
	if err != nil || len(st.Ports) != 1 || st.Ports[0].HostPort == 0 {
		t.Fatalf("State ports = %+v, %v; want one with a host port", st.Ports, err)
	}
	body := HTTPGet(t, "127.0.0.1", st.Ports[0].HostPort, s.o.Timeout)
	if !strings.HasPrefix(body, "ok ") {
		t.Errorf("GET via published port = %q", body)
	}
}

func (s *suite) testConcurrent(t *testing.T) {
	t.Parallel()
	n := s.o.Concurrency
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := s.ctx(t)
			id := NewID("cc")
			if err := s.p.Create(ctx, id, s.spec("exit", "3")); err != nil {
				errs <- err
				return
			}
			defer s.p.Delete(context.Background(), id)
			if err := s.p.Start(ctx, id); err != nil {
				errs <- err
				return
			}
			ex, err := s.p.Wait(ctx, id)
			if err == nil && ex.Code != 3 {
				err = errors.New("exit code " + itoa(ex.Code) + ", want 3")
			}
			if err != nil {
				errs <- err
			}
			if s.o.CheckClean != nil {
				if err := s.p.Delete(ctx, id); err != nil {
					errs <- err
				}
				s.o.CheckClean(t, id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func (s *suite) testReopen(t *testing.T) {
	if s.o.Reopen == nil || !s.p.Capabilities().SurvivesCrash {
		t.Skip("provider does not survive restarts")
	}
	t.Parallel()
	id := s.run(t, s.spec("sleep"))
	s.waitLog(t, id, "sleeping")
	p2 := s.o.Reopen(t)
	ctx := s.ctx(t)
	ids, err := p2.List(ctx)
	if err != nil || !slices.Contains(ids, id) {
		t.Fatalf("reopened List = %v, %v; want %s", ids, err, id)
	}
	st, err := p2.State(ctx, id)
	if err != nil || st.State != hypercore.StateRunning {
		t.Fatalf("reopened State = %+v, %v; want running", st, err)
	}
	if err := p2.Stop(ctx, id, s.o.Timeout/2); err != nil {
		t.Fatalf("reopened Stop: %v", err)
	}
	if _, err := p2.Wait(ctx, id); err != nil {
		t.Fatalf("reopened Wait: %v", err)
	}
	if err := p2.Delete(ctx, id); err != nil {
		t.Fatalf("reopened Delete: %v", err)
	}
}
