package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runcBench runs Debian's runc on an OCI bundle equivalent to what the
// sandbox does: same rootfs, same namespaces, cgroup limits and seccomp
// profile, detached, stdio to /dev/null.
type runcBench struct {
	bin    string
	bundle string
	root   string
}

func newRuncBench(bin, dir, rootfs string) (*runcBench, error) {
	bundle := filepath.Join(dir, "runc-bundle")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "spec")
	cmd.Dir = bundle
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	s.Root = &specs.Root{Path: rootfs, Readonly: true}
	s.Process.Terminal = false
	s.Process.Args = []string{"/bin/tw", "sleep"}
	s.Process.Env = []string{"PATH=/bin"}
	quota, period, mem, pids := int64(10000), uint64(100000), int64(32<<20), int64(32)
	s.Linux.Resources = &specs.LinuxResources{
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
		Memory: &specs.LinuxMemory{Limit: &mem, Swap: &mem},
		Pids:   &specs.LinuxPids{Limit: &pids},
	}
	s.Linux.Seccomp = seccompForRunc()
	out, err := json.MarshalIndent(&s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return nil, err
	}
	return &runcBench{bin: bin, bundle: bundle, root: filepath.Join(dir, "runc-state")}, nil
}

// startOnce times `runc run -d` (returns once the workload runs), then
// deletes the container outside the timed region.
func (r *runcBench) startOnce(i int) (time.Duration, error) {
	id := fmt.Sprintf("runc-bench-%d-%d", os.Getpid(), i)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	cmd := exec.Command(r.bin, "--root", r.root, "run", "-d", "--bundle", r.bundle, id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	del := exec.Command(r.bin, "--root", r.root, "delete", "-f", id)
	if out, derr := del.CombinedOutput(); derr != nil && err == nil {
		return 0, fmt.Errorf("runc delete: %v: %s", derr, out)
	}
	if err != nil {
		return 0, fmt.Errorf("runc run: %w", err)
	}
	return d, nil
}
