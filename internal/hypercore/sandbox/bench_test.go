package sandbox

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// BenchmarkStart measures create -> workload running (delete excluded)
// and reports p50/p99 besides the mean:
//
//	go test -tags seccomp -run '^$' -bench Start -benchtime 200x ./internal/hypercore/sandbox
func BenchmarkStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, bc := range []struct {
		name string
		opts Options
		nw   hypercore.Network
	}{
		{"seccomp", Options{}, hypercore.Network{}},
		{"noseccomp", Options{NoSeccomp: true}, hypercore.Network{}},
		{"seccomp+net", Options{}, hypercore.Network{Egress: true, Ports: []hypercore.Port{{Port: 8080}}}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchStart(b, bc.opts, bc.nw) })
	}
}

func benchStart(b *testing.B, opts Options, nw hypercore.Network) {
	p, err := New(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Probe(context.Background()); err != nil {
		b.Skipf("sandbox unavailable: %v", err)
	}
	ctx := context.Background()
	spec := hypercore.MachineSpec{Name: "bench", RootFS: hypercoretest.WorkloadRootFS(b),
		Process:   hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}},
		Resources: hypercore.Resources{MilliCPU: 100, MemoryBytes: 32 << 20, DiskBytes: 16 << 20, Pids: 32},
		Network:   nw}
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("bs-%d-%d", os.Getpid(), i)
		t0 := time.Now()
		if err := p.Create(ctx, id, spec); err != nil {
			b.Fatal(err)
		}
		if err := p.Start(ctx, id); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t0))
		b.StopTimer()
		if err := p.Delete(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(durs)
	q := func(f float64) float64 { return float64(durs[int(f*float64(len(durs)-1))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
