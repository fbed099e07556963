package sandbox

import (
	"context"
	"sync"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// TestConcurrentMetaWrites: several waiters recording the same exit while
// others read must never leave a torn meta.json (a shared temporary file
// name once did, under `kill -9` of the daemon with 50 machines).
func TestConcurrentMetaWrites(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	id := hypercoretest.NewID("meta")
	spec := hypercore.MachineSpec{Name: "m", RootFS: hypercoretest.WorkloadRootFS(t),
		Process: hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}}}
	if err := p.Create(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Delete(context.Background(), id) })
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	base, err := p.loadMeta(id)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		wg.Add(3)
		go func(code int) {
			defer wg.Done()
			p.recordExit(id, hypercore.ExitStatus{Code: code})
		}(i)
		go func() { // a writer racing the exit recorders, as Start's save does
			defer wg.Done()
			m := *base
			if err := p.saveMeta(&m); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := p.loadMeta(id); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reading meta.json during concurrent writes: %v", err)
	}
	if _, err := p.loadMeta(id); err != nil {
		t.Fatalf("after concurrent writes: %v", err)
	}
}
