package microvm

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// BenchmarkStart measures create+start -> the workload's published HTTP
// port answers 200 (delete excluded), and QEMU's resident memory once it
// answers:
//
//	go test -tags seccomp -run '^$' -bench Start -benchtime 5x ./internal/hypercore/microvm
func BenchmarkStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	p, err := New(b.TempDir(), Options{CacheDir: testCacheDir()})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Probe(context.Background()); err != nil {
		b.Skipf("microvm unavailable: %v", err)
	}
	ctx := context.Background()
	spec := hypercore.MachineSpec{Name: "bench", RootFS: hypercoretest.WorkloadRootFS(b),
		Process:   hypercore.Process{Args: []string{hypercoretest.TW, "http", "8080"}},
		Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: benchMemory(), DiskBytes: 64 << 20, Pids: 64},
		Network:   hypercore.Network{Ports: []hypercore.Port{{Port: 8080}}}}
	// Short probes: QEMU's user networking accepts on the host port at once
	// and retries its SYN to a guest not listening yet with exponential
	// backoff; a long-lived probe would measure that backoff.
	client := &http.Client{Timeout: 500 * time.Millisecond}
	var durs []time.Duration
	var rss []float64
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
		tStarted := time.Since(t0)
		st, err := p.State(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		url := "http://127.0.0.1:" + strconv.Itoa(st.Ports[0].HostPort) + "/"
		for {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Since(t0) > time.Minute {
				b.Fatalf("%s never answered: %v", url, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		durs = append(durs, time.Since(t0))
		b.Logf("Start returned after %v, port answered after %v", tStarted, durs[len(durs)-1])
		b.StopTimer()
		rss = append(rss, float64(vmRSS(st.Pid))/(1<<20))
		if err := p.Delete(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(durs)
	slices.Sort(rss)
	b.ReportMetric(float64(durs[len(durs)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(durs[len(durs)-1])/1e6, "max-ms")
	b.ReportMetric(rss[len(rss)/2], "rss-MiB")
	b.ReportMetric(rss[len(rss)-1], "max-rss-MiB")
}

// benchMemory is the workload's memory limit: VIMANA_BENCH_MEMORY_MIB,
// default 128 (the conformance suite's).
func benchMemory() int64 {
	if n, err := strconv.ParseInt(os.Getenv("VIMANA_BENCH_MEMORY_MIB"), 10, 64); err == nil && n > 0 {
		return n << 20
	}
	return 128 << 20
}

// vmRSS is a process's resident set in bytes.
func vmRSS(pid int) int64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}
