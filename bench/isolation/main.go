// Command isolation compares isolation levels side by side in one run:
// start latency to a reachable service (Create + Start → the published
// port answers HTTP 200) and host memory per idle instance, for each
// provider, runs interleaved so machine noise hits all alike.
//
//	go run -tags seccomp ./bench/isolation -n 10
//	go run -tags seccomp ./bench/isolation -n 10 -providers sandbox,gvisor -idle 5
//
// Memory is read from /proc for every process of an instance: those in
// its cgroups (the workload; for gvisor the sentry, gofer and ptrace
// stubs) plus, for gvisor, the `runsc run` parent and its shell shim,
// reported apart. RSS counts shared pages (the runsc binary) once per
// process; PSS splits them. Needs root. Figures go to docs/benchmarks.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vistara-labs/vimana/bench/internal/stats"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
	"github.com/vistara-labs/vimana/internal/node"
)

func main() {
	if node.HandleReexec() {
		return
	}
	n := flag.Int("n", 10, "starts per provider")
	provs := flag.String("providers", "sandbox,gvisor", "comma-separated isolation levels")
	idle := flag.Int("idle", 5, "idle instances per provider kept running for the memory figure")
	flag.Parse()
	if err := run(strings.Split(*provs, ","), *n, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "bench/isolation:", err)
		os.Exit(1)
	}
}

type subject struct {
	iso   hypercore.Isolation
	p     hypercore.Provider
	lat   []time.Duration
	phase [3][]time.Duration // create, start, start → 200
	mem   []usage
	extra []usage // gvisor: runsc run + shim, outside the cgroup
}

func run(isos []string, n, idle int) error {
	ctx := context.Background()
	rootfs, err := hypercoretest.BuildWorkloadRootFS()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vimana-bench-iso-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var subs []*subject
	for _, iso := range isos {
		f, err := hypercore.Lookup(hypercore.Isolation(iso))
		if err != nil {
			return err
		}
		p, err := f(dir + "/" + iso)
		if err != nil {
			return err
		}
		if err := p.Probe(ctx); err != nil {
			return fmt.Errorf("provider %s unavailable: %w", iso, err)
		}
		subs = append(subs, &subject{iso: hypercore.Isolation(iso), p: p})
	}
	spec := func(iso hypercore.Isolation) hypercore.MachineSpec {
		return hypercore.MachineSpec{
			Name:      "bench",
			RootFS:    rootfs,
			Process:   hypercore.Process{Args: []string{hypercoretest.TW, "http", "8080"}, Env: []string{"PATH=/bin"}},
			Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: 128 << 20, DiskBytes: 16 << 20, Pids: 64},
			Network:   hypercore.Network{Ports: []hypercore.Port{{Port: 8080, Protocol: "tcp"}}},
			Isolation: iso,
		}
	}
	for i := 0; i < n; i++ {
		for _, s := range subs {
			id := fmt.Sprintf("bi-%d-%s-%d", os.Getpid(), s.iso, i)
			d, ph, err := startToHTTP(ctx, s.p, id, spec(s.iso))
			if derr := s.p.Delete(ctx, id); derr != nil && err == nil {
				err = derr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", s.iso, err)
			}
			s.lat = append(s.lat, d)
			for k := range ph {
				s.phase[k] = append(s.phase[k], ph[k])
			}
		}
	}
	// Memory: idle instances of each, all running at once, measured after
	// a settle period.
	var ids [][]string
	defer func() {
		for si, s := range subs {
			for _, id := range ids[si] {
				s.p.Delete(ctx, id)
			}
		}
	}()
	for _, s := range subs {
		var mine []string
		for i := 0; i < idle; i++ {
			id := fmt.Sprintf("bm-%d-%s-%d", os.Getpid(), s.iso, i)
			if _, _, err := startToHTTP(ctx, s.p, id, spec(s.iso)); err != nil {
				return fmt.Errorf("%s: %w", s.iso, err)
			}
			mine = append(mine, id)
		}
		ids = append(ids, mine)
	}
	time.Sleep(3 * time.Second)
	for si, s := range subs {
		for _, id := range ids[si] {
			in, out := measure(s.iso, id)
			s.mem = append(s.mem, in)
			s.extra = append(s.extra, out)
		}
	}
	fmt.Printf("start → published port answers HTTP 200 (tw http, 0.5 core, 128 MiB), interleaved, n=%d each:\n", n)
	for _, s := range subs {
		fmt.Printf("  %-8s %s\n", s.iso, stats.Summarize(s.lat))
		fmt.Printf("  %-8s p50 by phase: Create %.1f ms, Start %.1f ms, Start → 200 %.1f ms\n", "", p50ms(s.phase[0]), p50ms(s.phase[1]), p50ms(s.phase[2]))
	}
	fmt.Printf("host memory per idle instance (%d each, mean):\n", idle)
	for _, s := range subs {
		in, out := mean(s.mem), mean(s.extra)
		fmt.Printf("  %-8s in its cgroups: RSS %.1f MiB, PSS %.1f MiB (%d processes)", s.iso, mib(in.rss), mib(in.pss), in.procs)
		if out.procs > 0 {
			fmt.Printf("; runsc run + shim: RSS %.1f MiB, PSS %.1f MiB (%d processes)", mib(out.rss), mib(out.pss), out.procs)
		}
		fmt.Println()
	}
	return nil
}

func p50ms(d []time.Duration) float64 {
	return float64(stats.Summarize(d).P50.Microseconds()) / 1000
}

// startToHTTP times Create + Start until GET / on the published port
// answers 200, and each phase.
func startToHTTP(ctx context.Context, p hypercore.Provider, id string, spec hypercore.MachineSpec) (time.Duration, [3]time.Duration, error) {
	var ph [3]time.Duration
	t0 := time.Now()
	if err := p.Create(ctx, id, spec); err != nil {
		return 0, ph, err
	}
	t1 := time.Now()
	if err := p.Start(ctx, id); err != nil {
		return 0, ph, err
	}
	t2 := time.Now()
	ph[0], ph[1] = t1.Sub(t0), t2.Sub(t1)
	st, err := p.State(ctx, id)
	if err != nil || len(st.Ports) != 1 {
		return 0, ph, fmt.Errorf("state %+v: %v", st, err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(st.Ports[0].HostPort) + "/"
	// Short attempts: QEMU's user networking accepts at once and retries
	// its SYN to a guest that is not listening yet with backoff, so one
	// long attempt would measure that backoff, not the guest.
	client := &http.Client{Timeout: 500 * time.Millisecond}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			ph[2] = time.Since(t2)
			return time.Since(t0), ph, nil
		}
	}
	return 0, ph, fmt.Errorf("%s never answered 200", url)
}

type usage struct {
	rss, pss uint64
	procs    int
}

func mean(us []usage) usage {
	var t usage
	for _, u := range us {
		t.rss += u.rss
		t.pss += u.pss
		t.procs += u.procs
	}
	if len(us) == 0 {
		return t
	}
	return usage{rss: t.rss / uint64(len(us)), pss: t.pss / uint64(len(us)), procs: t.procs / len(us)}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
