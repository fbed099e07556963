package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

type density struct {
	N               int     `json:"n"`
	Workers         int     `json:"workers"`
	MiBPerMachine   float64 `json:"host_mib_per_machine"`
	LaunchPerSec    float64 `json:"launch_per_sec"`
	LaunchSeconds   float64 `json:"launch_seconds"`
	TeardownSeconds float64 `json:"teardown_seconds"`
}

// measureDensity starts n idle machines with par workers, reads how much
// host memory they cost (MemAvailable before/after, page cache dropped
// around it), then deletes them all.
func measureDensity(ctx context.Context, p hypercore.Provider, spec hypercore.MachineSpec, n, par int) (*density, error) {
	before, err := memAvailable()
	if err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("dens-%d-%d", os.Getpid(), i)
	}
	work := make(chan string)
	errs := make(chan error, n)
	var started sync.Map
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := p.Create(ctx, id, spec); err != nil {
					errs <- err
					continue
				}
				started.Store(id, true)
				if err := p.Start(ctx, id); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i, id := range ids {
		work <- id
		if (i+1)%100 == 0 {
			fmt.Fprintf(os.Stderr, "  launched %d/%d\n", i+1, n)
		}
	}
	close(work)
	wg.Wait()
	launch := time.Since(t0)
	close(errs)
	var firstErr error
	for err := range errs {
		if firstErr == nil {
			firstErr = err
		}
	}
	runtime.GC()
	time.Sleep(2 * time.Second) // let the machines settle before sampling memory
	after, _ := memAvailable()
	t1 := time.Now()
	tasks := make(chan string)
	var twg sync.WaitGroup
	for w := 0; w < par; w++ {
		twg.Add(1)
		go func() {
			defer twg.Done()
			for id := range tasks {
				p.Delete(ctx, id)
			}
		}()
	}
	started.Range(func(k, _ any) bool { tasks <- k.(string); return true })
	close(tasks)
	twg.Wait()
	teardown := time.Since(t1)
	if firstErr != nil {
		return nil, fmt.Errorf("launching %d machines: %w", n, firstErr)
	}
	return &density{
		N: n, Workers: par,
		MiBPerMachine:   float64(before-after) / float64(n) / (1 << 20),
		LaunchPerSec:    float64(n) / launch.Seconds(),
		LaunchSeconds:   launch.Seconds(),
		TeardownSeconds: teardown.Seconds(),
	}, nil
}

func memAvailable() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fs[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("MemAvailable not in /proc/meminfo")
}
