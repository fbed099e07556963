package microvm

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// TestGuestFailures: a guest that hangs, crashes or floods its log is
// stopped, reported and cleaned up like any other.
func TestGuestFailures(t *testing.T) {
	p := newTestProvider(t)
	p.opts.MaxLogBytes = 1 << 20
	spec := hypercore.MachineSpec{
		Name: "fail", RootFS: hypercoretest.WorkloadRootFS(t),
		Process:   hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}},
		Resources: hypercore.Resources{MemoryBytes: 64 << 20, Pids: 64},
	}
	start := func(t *testing.T, ctx context.Context) (string, int) {
		id := hypercoretest.NewID("fail")
		if err := p.Create(ctx, id, spec); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := p.Delete(context.Background(), id); err != nil {
				t.Errorf("Delete: %v", err)
			}
			checkClean(t, p, id)
		})
		if err := p.Start(ctx, id); err != nil {
			t.Fatalf("Start: %v", err)
		}
		st, err := p.State(ctx, id)
		if err != nil || st.State != hypercore.StateRunning || st.Pid == 0 {
			t.Fatalf("State = %+v, %v", st, err)
		}
		return id, st.Pid
	}
	wantKilled := func(t *testing.T, ctx context.Context, id string) {
		ex, err := p.Wait(ctx, id)
		if err != nil || ex.Code != 137 || ex.Signal != 9 {
			t.Errorf("Wait = %+v, %v; want code 137 / signal 9", ex, err)
		}
		if st, err := p.State(ctx, id); err != nil || st.State != hypercore.StateStopped {
			t.Errorf("State = %+v, %v; want stopped", st, err)
		}
	}
	t.Run("Hang", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id, pid := start(t, ctx)
		// A frozen VM answers nothing: Stop must not wait past grace.
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := p.Stop(ctx, id, time.Second); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if d := time.Since(t0); d > 15*time.Second {
			t.Errorf("Stop of a hung guest took %v", d)
		}
		wantKilled(t, ctx, id)
	})
	t.Run("Crash", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id, pid := start(t, ctx)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		wantKilled(t, ctx, id)
	})
	t.Run("Flood", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id, _ := start(t, ctx)
		// Stand in for a guest writing without end: grow its log past the cap.
		f, err := os.OpenFile(p.path(id, fileLog), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Write(make([]byte, 2<<20))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		wantKilled(t, ctx, id)
	})
}
