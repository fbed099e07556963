package spacecore

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

func TestCreateRunsAndCapturesLogs(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	ev := record(t, s)
	rec := create(t, s, "hello", RestartNever, "echo", "hello")
	if rec.ID == "" || hypercore.ValidID(rec.ID) != nil || rec.Owner != "key-1" || rec.Generation != 1 {
		t.Fatalf("record = %+v", rec)
	}
	rec = waitPhase(t, s, rec.ID, PhaseExited)
	if rec.LastExit == nil || rec.LastExit.Code != 0 {
		t.Fatalf("LastExit = %+v, want code 0", rec.LastExit)
	}
	if ms := e.machines(); len(ms) != 0 {
		t.Errorf("exited spacecore still holds machines %v", ms)
	}
	out := logsOf(t, s, rec.ID, -1)
	if !strings.Contains(out, "hello\n") || !strings.Contains(out, "stderr: hello\n") {
		t.Errorf("logs = %q", out)
	}
	if tail := logsOf(t, s, rec.ID, 1); tail != "stderr: hello\n" {
		t.Errorf("tail 1 = %q", tail)
	}
	waitFor(t, "exited event", func() bool { return slices.Contains(ev.types(rec.ID), EventExited) })
	if got, want := ev.types(rec.ID), []EventType{EventCreated, EventStarted, EventExited}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if r := rec.Redacted(); r.Spec.Process.Env[0] != "SECRET=<redacted>" {
		t.Errorf("Redacted env = %v", r.Spec.Process.Env)
	}
}

func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		policy RestartPolicy
		code   string
		want   Phase
	}{
		{RestartNever, "0", PhaseExited},
		{RestartNever, "3", PhaseExited},
		{RestartOnFailure, "0", PhaseExited},
		{RestartOnFailure, "3", PhaseBackoff},
		{RestartAlways, "0", PhaseBackoff},
		{RestartAlways, "3", PhaseBackoff},
	}
	e := newEnv(t)
	s := e.open()
	for _, tt := range tests {
		t.Run(string(tt.policy)+"/"+tt.code, func(t *testing.T) {
			rec := create(t, s, "p-"+string(tt.policy)+tt.code, tt.policy, "exit", tt.code)
			rec = waitRecord(t, s, rec.ID, "settled", func(r Record) bool { return r.Phase == PhaseExited || r.Phase == PhaseBackoff })
			if rec.Phase != tt.want {
				t.Fatalf("phase = %s, want %s", rec.Phase, tt.want)
			}
			if tt.want == PhaseBackoff && !rec.RestartAt.Equal(e.clock.Now().Add(time.Second)) {
				t.Errorf("RestartAt = %v, want now+1s", rec.RestartAt)
			}
		})
	}
}

func TestCrashLoopBackoff(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	ev := record(t, s)
	rec := create(t, s, "crashy", RestartAlways, "exit", "1")
	// Base 1s doubling to the 8s cap: each restart waits longer.
	for i, want := range []time.Duration{1, 2, 4, 8, 8} {
		rec = waitRecord(t, s, rec.ID, "backoff", func(r Record) bool { return r.Phase == PhaseBackoff && r.RestartCount == i })
		if got := rec.RestartAt.Sub(e.clock.Now()); got != want*time.Second {
			t.Fatalf("restart %d: delay %v, want %v", i+1, got, want*time.Second)
		}
		waitFor(t, "backoff timer", func() bool { return e.clock.hasTimerAt(rec.RestartAt) })
		e.clock.Advance(want*time.Second - time.Millisecond)
		if r, _ := s.Get(rec.ID); r.RestartCount != i {
			t.Fatalf("restarted before its delay passed")
		}
		e.clock.Advance(time.Millisecond)
	}
	if n := ev.count(EventRestarted); n < 4 {
		t.Errorf("restarted events = %d, want >= 4", n)
	}

	// Start resets the backoff and starts at once.
	rec = waitRecord(t, s, rec.ID, "backoff", func(r Record) bool { return r.Phase == PhaseBackoff && r.RestartCount == 5 })
	if err := s.Start(ctxT(t), rec.ID); err != nil {
		t.Fatal(err)
	}
	rec = waitRecord(t, s, rec.ID, "fresh backoff", func(r Record) bool { return r.Phase == PhaseBackoff && r.BackoffStep == 1 })
	if got := rec.RestartAt.Sub(e.clock.Now()); got != time.Second {
		t.Errorf("delay after Start = %v, want the base 1s", got)
	}
}

func TestBackoffResetsAfterHealthyRun(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	rec := create(t, s, "flaky", RestartOnFailure, "ignore-term")
	kill := func() {
		t.Helper()
		if err := e.prov.Stop(ctxT(t), rec.ID, 0); err != nil { // the workload dies: 137
			t.Fatal(err)
		}
	}
	restart := func(i int) {
		t.Helper()
		r := waitRecord(t, s, rec.ID, "backoff", func(r Record) bool { return r.Phase == PhaseBackoff && r.RestartCount == i })
		waitFor(t, "timer", func() bool { return e.clock.hasTimerAt(r.RestartAt) })
		e.clock.Advance(r.RestartAt.Sub(e.clock.Now()))
		waitRecord(t, s, rec.ID, "running", func(r Record) bool { return r.Phase == PhaseRunning && r.RestartCount == i+1 })
	}
	kill()
	restart(0)
	kill()
	r := waitRecord(t, s, rec.ID, "backoff", func(r Record) bool { return r.Phase == PhaseBackoff && r.RestartCount == 1 })
	if r.BackoffStep != 2 || r.LastExit == nil || r.LastExit.Signal != 9 {
		t.Fatalf("after two quick failures: step %d exit %+v", r.BackoffStep, r.LastExit)
	}
	restart(1)
	e.clock.Advance(2 * time.Minute) // a healthy run longer than ResetAfter
	kill()
	r = waitRecord(t, s, rec.ID, "backoff", func(r Record) bool { return r.Phase == PhaseBackoff && r.RestartCount == 2 })
	if r.BackoffStep != 1 || r.RestartAt.Sub(e.clock.Now()) != time.Second {
		t.Errorf("after a healthy run: step %d delay %v, want 1 and 1s", r.BackoffStep, r.RestartAt.Sub(e.clock.Now()))
	}
}

func TestStopStartRemove(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	ev := record(t, s)
	ctx := ctxT(t)
	rec := create(t, s, "svc", RestartAlways, "sleep")
	if st := e.machines()[rec.ID]; st != hypercore.StateRunning {
		t.Fatalf("machine state after Create = %q", st)
	}
	if err := s.Stop(ctx, rec.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(rec.ID)
	if got.Phase != PhaseStopped || got.Desired != DesiredStopped || got.Generation != 2 {
		t.Fatalf("after Stop: %+v", got)
	}
	if got.LastExit == nil || got.LastExit.Code != 0 {
		t.Errorf("LastExit after graceful stop = %+v", got.LastExit)
	}
	if len(e.machines()) != 0 {
		t.Errorf("stopped spacecore keeps a machine: %v", e.machines())
	}
	if err := s.Stop(ctx, rec.ID, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := s.Exec(ctx, rec.ID, hypercore.ExecRequest{Args: []string{"/bin/tw", "echo"}}); !isErr(err, hypercore.ErrState) {
		t.Errorf("Exec on stopped: %v, want ErrState", err)
	}

	if err := s.Start(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(rec.ID)
	if got.Phase != PhaseRunning || got.RestartCount != 0 || got.Incarnation != 2 {
		t.Fatalf("after Start: %+v", got)
	}
	if err := s.Start(ctx, rec.ID); err != nil {
		t.Errorf("Start on running: %v", err)
	}
	var out bytes.Buffer
	code, err := s.Exec(ctx, rec.ID, hypercore.ExecRequest{Args: []string{"/bin/tw", "echo", "hi"}, Stdout: &out})
	if err != nil || code != 0 || out.String() != "hi\n" {
		t.Errorf("Exec = %d, %v, %q", code, err, out.String())
	}
	if _, err := s.Stats(ctx, rec.ID); err != nil {
		t.Errorf("Stats: %v", err)
	}

	if err := s.Remove(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(rec.ID); !isErr(err, hypercore.ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
	for _, f := range []func() error{
		func() error { return s.Stop(ctx, rec.ID, 0) },
		func() error { return s.Start(ctx, rec.ID) },
		func() error { return s.Remove(ctx, rec.ID) },
		func() error { _, err := s.Logs(ctx, rec.ID, false, 10); return err },
	} {
		if err := f(); !isErr(err, hypercore.ErrNotFound) {
			t.Errorf("call on removed spacecore: %v, want ErrNotFound", err)
		}
	}
	if len(e.machines()) != 0 {
		t.Errorf("machines left: %v", e.machines())
	}
	if _, err := os.Stat(s.logDir(rec.ID)); !os.IsNotExist(err) {
		t.Errorf("log dir kept after Remove: %v", err)
	}
	waitFor(t, "removed event", func() bool { return slices.Contains(ev.types(rec.ID), EventRemoved) })
	want := []EventType{EventCreated, EventStarted, EventStopped, EventStarted, EventRemoved}
	if got := ev.types(rec.ID); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	// The name is free again.
	create(t, s, "svc", RestartAlways, "sleep")
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	create(t, s, "taken", RestartNever, "sleep")
	gvisor := twSpec("sleep")
	gvisor.Isolation = hypercore.IsolationGVisor
	tests := []struct {
		name string
		req  CreateRequest
		want error
	}{
		{"no name", CreateRequest{Spec: twSpec("sleep")}, hypercore.ErrInvalid},
		{"bad policy", CreateRequest{Name: "x", Spec: twSpec("sleep"), Restart: "maybe"}, hypercore.ErrInvalid},
		{"no provider", CreateRequest{Name: "x", Spec: gvisor}, hypercore.ErrUnavailable},
		{"name taken", CreateRequest{Name: "taken", Owner: "key-1", Spec: twSpec("sleep")}, hypercore.ErrAlreadyExists},
		{"image without resolver", CreateRequest{Name: "x", ImageRef: "example/app:1"}, hypercore.ErrUnavailable},
		{"start fails", CreateRequest{Name: "x", Spec: hypercore.MachineSpec{RootFS: "/r", Process: hypercore.Process{Args: []string{"/bin/missing"}}}}, hypercore.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Create(ctxT(t), tt.req)
			if !isErr(err, tt.want) {
				t.Fatalf("Create = %v, want %v", err, tt.want)
			}
			if n := len(s.List(Filter{})); n != 1 {
				t.Errorf("%d records after a failed create, want 1", n)
			}
			if n := len(e.machines()); n != 1 {
				t.Errorf("%d machines after a failed create, want 1", n)
			}
		})
	}
	if _, err := s.Get("sc-nope"); !isErr(err, hypercore.ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
	// The same name under another owner is fine.
	if _, err := s.Create(ctxT(t), CreateRequest{Name: "taken", Owner: "key-2", Spec: twSpec("sleep")}); err != nil {
		t.Errorf("same name, other owner: %v", err)
	}
	if got := s.List(Filter{Owner: "key-2"}); len(got) != 1 || got[0].Owner != "key-2" {
		t.Errorf("List by owner = %+v", got)
	}
}

func TestLogsFollowEndsOnStop(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	rec := create(t, s, "follow", RestartAlways, "sleep")
	rc, err := s.Logs(ctxT(t), rec.ID, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 64)
	n, err := rc.Read(buf)
	if err != nil || string(buf[:n]) != "sleeping\n" {
		t.Fatalf("first read = %q, %v", buf[:n], err)
	}
	if err := s.Stop(ctxT(t), rec.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	rest, err := readRest(rc)
	if err != nil || rest != "got SIGTERM\n" {
		t.Errorf("rest of followed log = %q, %v", rest, err)
	}
}

func readRest(rc interface{ Read([]byte) (int, error) }) (string, error) {
	var b strings.Builder
	buf := make([]byte, 256)
	for {
		n, err := rc.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			if err.Error() == "EOF" {
				return b.String(), nil
			}
			return b.String(), err
		}
	}
}

func TestCloseLeavesMachinesRunning(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	rec := create(t, s, "survivor", RestartAlways, "sleep")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := e.machines()[rec.ID]; st != hypercore.StateRunning {
		t.Errorf("machine after Close = %q, want running", st)
	}
	if _, err := s.Create(ctxT(t), CreateRequest{Name: "late", Spec: twSpec("sleep")}); err == nil {
		t.Error("Create after Close succeeded")
	}
}
