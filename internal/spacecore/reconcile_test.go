package spacecore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// crashAt returns a hook that simulates a daemon crash the first time
// step is reached.
func crashAt(step string) (func(string, string) error, *atomic.Bool) {
	var hit atomic.Bool
	return func(s, id string) error {
		if s == step && hit.CompareAndSwap(false, true) {
			return fmt.Errorf("%w at %s", errCrash, s)
		}
		return nil
	}, &hit
}

func TestCrashRecovery(t *testing.T) {
	tests := []struct {
		step string
		// act drives the first supervisor to the step; pre-existing
		// spacecore id is given for operations on it.
		act         func(t *testing.T, s *Supervisor, id string) error
		wantDesired Desired // of the acted-on spacecore; "" = removed
		wantPhase   Phase
	}{
		{"create:persisted", createNew, DesiredRunning, PhaseRunning},
		{"start:persisted", createNew, DesiredRunning, PhaseRunning},
		{"start:created", createNew, DesiredRunning, PhaseRunning},
		{"start:started", createNew, DesiredRunning, PhaseRunning},
		{"desired:stopped", stopIt, DesiredStopped, PhaseStopped},
		{"desired:deleted", removeIt, "", ""},
		{"remove:machine-deleted", removeIt, "", ""},
		{"desired:running", startStopped, DesiredRunning, PhaseRunning},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			e := newEnv(t)
			s1 := e.open()
			existing := create(t, s1, "existing", RestartAlways, "sleep")
			if tt.step == "desired:running" {
				if err := s1.Stop(ctxT(t), existing.ID, time.Second); err != nil {
					t.Fatal(err)
				}
			}
			s1.Close()

			o := e.options()
			hook, hit := crashAt(tt.step)
			o.hook = hook
			s2 := e.openWith(o)
			if err := s2.settle(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			err := tt.act(t, s2, existing.ID)
			if !hit.Load() {
				t.Fatalf("step %s never reached (act: %v)", tt.step, err)
			}
			if err == nil || !isErr(err, errCrash) {
				t.Fatalf("act = %v, want the simulated crash", err)
			}
			s2.Close() // the "crashed" daemon: nothing is cleaned up

			s3, ev := e.openRecording(e.options())
			if err := s3.settle(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, e, s3)
			recs := s3.List(Filter{})
			var target *Record
			for i := range recs {
				if recs[i].Name == "target" || (recs[i].ID == existing.ID && tt.act != nil && !isCreate(tt.step)) {
					target = &recs[i]
				}
			}
			if tt.wantDesired == "" {
				if target != nil {
					t.Fatalf("record survived its removal: %+v", target)
				}
				if len(e.machines()) != 0 {
					t.Fatalf("machines left after removal: %v", e.machines())
				}
				return
			}
			if target == nil {
				t.Fatalf("record lost; have %+v", recs)
			}
			if target.Desired != tt.wantDesired || target.Phase != tt.wantPhase {
				t.Fatalf("after recovery: desired %s phase %s, want %s %s", target.Desired, target.Phase, tt.wantDesired, tt.wantPhase)
			}
			if tt.wantPhase == PhaseRunning && e.machines()[target.ID] != hypercore.StateRunning {
				t.Fatalf("machine of %s is %q", target.ID, e.machines()[target.ID])
			}
			if isCreate(tt.step) {
				if n := len(recs); n != 2 {
					t.Errorf("%d records, want 2 (no duplicates)", n)
				}
				if tt.step == "start:started" {
					// Started before the crash: adopted, not restarted.
					waitFor(t, "adopted event", func() bool { return ev.count(EventAdopted) >= 1 })
				}
			}
		})
	}
}

func isCreate(step string) bool {
	return step == "create:persisted" || strings.HasPrefix(step, "start:")
}

func createNew(t *testing.T, s *Supervisor, _ string) error {
	_, err := s.Create(ctxT(t), CreateRequest{Name: "target", Owner: "key-1", Spec: twSpec("sleep"), Restart: RestartNever})
	return err
}

func stopIt(t *testing.T, s *Supervisor, id string) error { return s.Stop(ctxT(t), id, time.Second) }

func removeIt(t *testing.T, s *Supervisor, id string) error { return s.Remove(ctxT(t), id) }

func startStopped(t *testing.T, s *Supervisor, id string) error { return s.Start(ctxT(t), id) }

func TestReadoptAfterRestart(t *testing.T) {
	e := newEnv(t)
	s1 := e.open()
	var ids []string
	for i := range 5 {
		ids = append(ids, create(t, s1, fmt.Sprintf("svc-%d", i), RestartAlways, "sleep").ID)
	}
	before := map[string]time.Time{}
	for _, id := range ids {
		waitFor(t, "log copied", func() bool {
			return strings.Contains(logsOf(t, s1, id, -1), "sleeping")
		})
		st, _ := e.prov.State(context.Background(), id)
		before[id] = st.StartedAt
	}
	s1.Close()

	s2, ev := e.openRecording(e.options())
	if err := s2.settle(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, e, s2)
	for _, id := range ids {
		rec, err := s2.Get(id)
		if err != nil || rec.Phase != PhaseRunning || rec.RestartCount != 0 || rec.Incarnation != 1 {
			t.Fatalf("after reopen %s: %+v, %v", id, rec, err)
		}
		st, _ := e.prov.State(context.Background(), id)
		if !st.StartedAt.Equal(before[id]) {
			t.Errorf("%s was restarted, not adopted", id)
		}
		// The provider's log is re-read from its start on adoption; what
		// was copied before must not be copied twice.
		if out := logsOf(t, s2, id, -1); strings.Count(out, "sleeping") != 1 {
			t.Errorf("log of %s after re-adoption = %q", id, out)
		}
	}
	waitFor(t, "adopted events", func() bool { return ev.count(EventAdopted) == 5 })

	// The adopted machines are supervised: a crash is restarted by policy.
	if err := e.prov.Stop(ctxT(t), ids[0], time.Second); err != nil {
		t.Fatal(err)
	}
	rec := waitPhase(t, s2, ids[0], PhaseBackoff)
	waitFor(t, "timer", func() bool { return e.clock.hasTimerAt(rec.RestartAt) })
	e.clock.Advance(time.Second)
	waitRecord(t, s2, ids[0], "restart", func(r Record) bool { return r.Phase == PhaseRunning && r.RestartCount == 1 })
	checkInvariants(t, e, s2)
}

func TestMissingMachineRestartedPerPolicy(t *testing.T) {
	e := newEnv(t)
	s1 := e.open()
	always := create(t, s1, "always", RestartAlways, "sleep")
	never := create(t, s1, "never", RestartNever, "sleep")
	s1.Close()
	// The host lost every machine (a reboot) while the daemon was down.
	for _, id := range []string{always.ID, never.ID} {
		if err := e.prov.Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	s2 := e.open()
	if err := s2.settle(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if r, _ := s2.Get(never.ID); r.Phase != PhaseExited || r.LastExit != nil {
		t.Errorf("never: %+v, want exited with an unknown exit", r)
	}
	r := waitPhase(t, s2, always.ID, PhaseBackoff)
	waitFor(t, "timer", func() bool { return e.clock.hasTimerAt(r.RestartAt) })
	e.clock.Advance(time.Second)
	waitRecord(t, s2, always.ID, "recreated", func(r Record) bool { return r.Phase == PhaseRunning && r.RestartCount == 1 })
	if e.machines()[always.ID] != hypercore.StateRunning {
		t.Errorf("machine not recreated: %v", e.machines())
	}
	checkInvariants(t, e, s2)
}

func TestBackoffSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	s1 := e.open()
	rec := create(t, s1, "crashy", RestartAlways, "exit", "1")
	rec = waitPhase(t, s1, rec.ID, PhaseBackoff)
	s1.Close()
	s2 := e.open()
	if err := s2.settle(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	got, _ := s2.Get(rec.ID)
	if got.Phase != PhaseBackoff || !got.RestartAt.Equal(rec.RestartAt) {
		t.Fatalf("after reopen: %+v, want the same backoff", got)
	}
	waitFor(t, "re-armed timer", func() bool { return e.clock.hasTimerAt(rec.RestartAt) })
}

func TestOrphansDeleted(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	orphan := twSpec("sleep")
	orphan.Labels = map[string]string{LabelID: "sc-orphan"}
	if err := e.prov.Create(ctx, "sc-orphan", orphan); err != nil {
		t.Fatal(err)
	}
	if err := e.prov.Start(ctx, "sc-orphan"); err != nil {
		t.Fatal(err)
	}
	if err := e.prov.Create(ctx, "not-ours", twSpec("sleep")); err != nil {
		t.Fatal(err)
	}
	s := e.open()
	if _, ok := e.machines()["sc-orphan"]; ok {
		t.Error("orphan survived Open")
	}
	if _, ok := e.machines()["not-ours"]; !ok {
		t.Error("an unlabeled machine was deleted")
	}

	// Run's resync catches orphans that appear later.
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	orphan.Labels = map[string]string{LabelID: "sc-late"}
	if err := e.prov.Create(ctx, "sc-late", orphan); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resync timer", func() bool { return e.clock.hasTimerAt(e.clock.Now().Add(s.opts.Resync)) })
	e.clock.Advance(s.opts.Resync)
	waitFor(t, "late orphan deleted", func() bool { _, ok := e.machines()["sc-late"]; return !ok })
}
