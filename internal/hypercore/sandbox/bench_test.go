package sandbox

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// BenchmarkStart measures create -> workload running (delete excluded).
func BenchmarkStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	p, err := New(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	spec := hypercore.MachineSpec{Name: "bench", RootFS: hypercoretest.WorkloadRootFS(b),
		Process:   hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}},
		Resources: hypercore.Resources{MilliCPU: 100, MemoryBytes: 32 << 20, Pids: 32}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("bs-%d-%d", os.Getpid(), i)
		if err := p.Create(ctx, id, spec); err != nil {
			b.Fatal(err)
		}
		if err := p.Start(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := p.Delete(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
