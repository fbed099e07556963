package spacecore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/fake"
)

// readyTimeout bounds readiness waits; it is never a timing assertion.
const readyTimeout = 10 * time.Second

// fakeClock only moves when Advance is called.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	clk *fakeClock
	at  time.Time
	c   chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), timers: map[*fakeTimer]struct{}{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
		return t
	}
	c.timers[t] = struct{}{}
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	_, pending := t.clk.timers[t]
	delete(t.clk.timers, t)
	return pending
}

// Advance moves time forward and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			delete(c.timers, t)
			t.c <- c.now
		}
	}
}

// hasTimerAt reports whether a timer is armed for exactly at.
func (c *fakeClock) hasTimerAt(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.timers {
		if t.at.Equal(at) {
			return true
		}
	}
	return false
}

// env is one node's worth of state that outlives a Supervisor value, so
// tests can "crash" the daemon and open a new one over it.
type env struct {
	t     *testing.T
	dir   string
	prov  *fake.Provider
	clock *fakeClock
	opts  Options // template; Open fills the rest
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), prov: fake.New(), clock: newFakeClock()}
	e.opts = Options{
		Backoff: Backoff{Base: time.Second, Max: 8 * time.Second, ResetAfter: time.Minute},
		Logs:    LogConfig{MaxFileSize: 1 << 20, MaxFiles: 2, TailLines: 100},
	}
	return e
}

func (e *env) options() Options {
	o := e.opts
	o.DBPath = filepath.Join(e.dir, "spacecore.db")
	o.LogDir = filepath.Join(e.dir, "logs")
	o.Providers = map[hypercore.Isolation]hypercore.Provider{hypercore.IsolationSandbox: e.prov}
	o.Clock = e.clock
	o.StopGrace = 2 * time.Second
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(&testWriter{t: e.t}, nil))
	}
	return o
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// open starts a Supervisor; it is closed (machines left running) at the
// end of the test unless the test closes it first.
func (e *env) open() *Supervisor {
	e.t.Helper()
	return e.openWith(e.options())
}

func (e *env) openWith(o Options) *Supervisor {
	e.t.Helper()
	s, err := Open(context.Background(), o)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// openRecording opens a supervisor whose events are recorded from the
// first one: re-adoption starts inside Open, so a subscription made after
// it could miss the adopted events (seen in CI under load).
func (e *env) openRecording(o Options) (*Supervisor, *recorder) {
	e.t.Helper()
	r := &recorder{}
	o.onEvent = func(ev Event) {
		r.mu.Lock()
		r.evs = append(r.evs, ev)
		r.mu.Unlock()
	}
	return e.openWith(o), r
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	t.Cleanup(cancel)
	return ctx
}

func twSpec(args ...string) hypercore.MachineSpec {
	return hypercore.MachineSpec{
		RootFS:    "/nonexistent-fake-needs-none",
		Process:   hypercore.Process{Args: append([]string{"/bin/tw"}, args...), Env: []string{"SECRET=hunter2"}},
		Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: 64 << 20},
	}
}

func create(t *testing.T, s *Supervisor, name string, policy RestartPolicy, args ...string) Record {
	t.Helper()
	rec, err := s.Create(ctxT(t), CreateRequest{Name: name, Owner: "key-1", Spec: twSpec(args...), Restart: policy})
	if err != nil {
		t.Fatalf("Create %s: %v", name, err)
	}
	return rec
}

// waitFor polls cond: a readiness wait, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRecord waits until the record satisfies cond and returns it.
func waitRecord(t *testing.T, s *Supervisor, id string, what string, cond func(Record) bool) Record {
	t.Helper()
	var rec Record
	waitFor(t, fmt.Sprintf("%s of %s", what, id), func() bool {
		var err error
		rec, err = s.Get(id)
		return err == nil && cond(rec)
	})
	return rec
}

func waitPhase(t *testing.T, s *Supervisor, id string, p Phase) Record {
	t.Helper()
	return waitRecord(t, s, id, "phase "+string(p), func(r Record) bool { return r.Phase == p })
}

// machines returns the provider's machines and their states.
func (e *env) machines() map[string]hypercore.State {
	out := map[string]hypercore.State{}
	ids, _ := e.prov.List(context.Background())
	for _, id := range ids {
		st, err := e.prov.State(context.Background(), id)
		if err == nil {
			out[id] = st.State
		}
	}
	return out
}

// checkInvariants asserts no orphans, no duplicates, no lost records:
// every machine belongs to a record, every record wanting to run has one
// running machine, every stopped record has none.
func checkInvariants(t *testing.T, e *env, s *Supervisor) {
	t.Helper()
	ms := e.machines()
	recs := s.List(Filter{})
	byID := map[string]Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	for id := range ms {
		if _, ok := byID[id]; !ok {
			t.Errorf("machine %s has no record (orphan)", id)
		}
	}
	for _, r := range recs {
		switch r.Desired {
		case DesiredRunning:
			if r.Phase == PhaseRunning && ms[r.ID] != hypercore.StateRunning {
				t.Errorf("record %s is running but its machine is %q", r.ID, ms[r.ID])
			}
		case DesiredStopped:
			if _, ok := ms[r.ID]; ok {
				t.Errorf("stopped record %s still has a machine", r.ID)
			}
		case DesiredDeleted:
			t.Errorf("record %s still wants deletion after settling", r.ID)
		}
	}
}

// recorder collects events from a subscription.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func record(t *testing.T, s *Supervisor) *recorder {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := s.Events(ctx)
	r := &recorder{}
	go func() {
		for ev := range ch {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) types(id string) []EventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventType
	for _, ev := range r.evs {
		if id == "" || ev.ID == id {
			out = append(out, ev.Type)
		}
	}
	return out
}

func (r *recorder) count(t EventType) int {
	n := 0
	for _, ty := range r.types("") {
		if ty == t {
			n++
		}
	}
	return n
}

func readAll(t *testing.T, rc io.ReadCloser, err error) string {
	t.Helper()
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

func sortedKeys(m map[string]hypercore.State) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isErr(err, target error) bool { return errors.Is(err, target) }

// logsOf returns the spacecore's kept log (the last tail lines; all when
// tail < 0) without following.
func logsOf(t *testing.T, s *Supervisor, id string, tail int) string {
	t.Helper()
	rc, err := s.Logs(ctxT(t), id, false, tail)
	return readAll(t, rc, err)
}
