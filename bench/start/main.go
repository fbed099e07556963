// Command start measures spacecore start latency (create -> workload process
// running, image cached) for a hypercore provider, beside Debian's
// `runc run` on the same rootfs in the same run, and optionally density
// (many idle spacecores: host memory each, launch rate, teardown time).
//
//	go run -tags seccomp ./bench/start -n 200
//	go run -tags seccomp ./bench/start -density 1000
//
// Needs root. Figures go to docs/benchmarks.md with the command line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/vistara-labs/vimana/bench/internal/stats"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
	"github.com/vistara-labs/vimana/internal/node"
)

type result struct {
	Provider    string         `json:"provider"`
	Ours        *stats.Summary `json:"ours,omitempty"`
	Runc        *stats.Summary `json:"runc,omitempty"`
	RuncVersion string         `json:"runc_version,omitempty"`
	Speedup     float64        `json:"speedup_p50,omitempty"`
	Density     *density       `json:"density,omitempty"`
}

func main() {
	if node.HandleReexec() {
		return
	}
	n := flag.Int("n", 200, "start-latency runs per runtime")
	iso := flag.String("provider", "sandbox", "isolation level / provider to measure")
	runcPath := flag.String("runc", "runc", "runc binary for the comparison (empty to skip)")
	dens := flag.Int("density", 0, "also start this many idle spacecores and measure memory, launch rate, teardown")
	par := flag.Int("parallel", 2, "launch workers for -density")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	if err := run(*iso, *n, *runcPath, *dens, *par, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "bench/start:", err)
		os.Exit(1)
	}
}

func run(iso string, n int, runcPath string, dens, par int, asJSON bool) error {
	ctx := context.Background()
	rootfs, err := hypercoretest.BuildWorkloadRootFS()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vimana-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	factory, err := hypercore.Lookup(hypercore.Isolation(iso))
	if err != nil {
		return err
	}
	p, err := factory(dir)
	if err != nil {
		return err
	}
	if err := p.Probe(ctx); err != nil {
		return fmt.Errorf("provider %s unavailable: %w", iso, err)
	}
	res := result{Provider: iso}
	spec := idleSpec(rootfs, iso)
	if n > 0 {
		// Interleave ours and runc so machine noise hits both alike.
		var ours, theirs []time.Duration
		rc := runcPath != ""
		if rc {
			if _, err := exec.LookPath(runcPath); err != nil {
				fmt.Fprintf(os.Stderr, "runc not found (%v): measuring ours only\n", err)
				rc = false
			} else {
				out, _ := exec.Command(runcPath, "--version").Output()
				res.RuncVersion = firstLine(string(out))
			}
		}
		var rb *runcBench
		if rc {
			if rb, err = newRuncBench(runcPath, dir, rootfs, spec); err != nil {
				return err
			}
		}
		for i := 0; i < n; i++ {
			d, err := startOnce(ctx, p, spec, i)
			if err != nil {
				return err
			}
			ours = append(ours, d)
			if rb != nil {
				d, err := rb.startOnce(i)
				if err != nil {
					return err
				}
				theirs = append(theirs, d)
			}
			if (i+1)%50 == 0 {
				fmt.Fprintf(os.Stderr, "  %d/%d\n", i+1, n)
			}
		}
		s := stats.Summarize(ours)
		res.Ours = &s
		if rb != nil {
			r := stats.Summarize(theirs)
			res.Runc = &r
			res.Speedup = float64(r.P50) / float64(s.P50)
		}
	}
	if dens > 0 {
		d, err := measureDensity(ctx, p, spec, dens, par)
		if err != nil {
			return err
		}
		res.Density = d
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	print(res)
	return nil
}

func idleSpec(rootfs, iso string) hypercore.MachineSpec {
	return hypercore.MachineSpec{
		Name:      "bench",
		RootFS:    rootfs,
		Process:   hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}, Env: []string{"PATH=/bin"}},
		Resources: hypercore.Resources{MilliCPU: 100, MemoryBytes: 32 << 20, DiskBytes: 16 << 20, Pids: 32},
		Isolation: hypercore.Isolation(iso),
	}
}

// startOnce times Create+Start (returns once the workload process runs),
// then deletes the machine outside the timed region.
func startOnce(ctx context.Context, p hypercore.Provider, spec hypercore.MachineSpec, i int) (time.Duration, error) {
	id := fmt.Sprintf("bench-%d-%d", os.Getpid(), i)
	t0 := time.Now()
	if err := p.Create(ctx, id, spec); err != nil {
		return 0, err
	}
	if err := p.Start(ctx, id); err != nil {
		p.Delete(ctx, id)
		return 0, err
	}
	d := time.Since(t0)
	return d, p.Delete(ctx, id)
}

func print(r result) {
	fmt.Printf("provider: %s\n", r.Provider)
	if r.Ours != nil {
		fmt.Printf("start latency, vimana %-8s %s\n", r.Provider+":", r.Ours)
	}
	if r.Runc != nil {
		fmt.Printf("start latency, runc run -d:     %s  (%s)\n", r.Runc, r.RuncVersion)
		fmt.Printf("speedup at p50: %.2fx\n", r.Speedup)
	}
	if d := r.Density; d != nil {
		fmt.Printf("density: %d idle spacecores, host memory %.2f MiB each, launch %.1f/s (%d workers), teardown %.2fs (%.1f/s)\n",
			d.N, d.MiBPerMachine, d.LaunchPerSec, d.Workers, d.TeardownSeconds, float64(d.N)/d.TeardownSeconds)
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
