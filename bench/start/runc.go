package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/ocispec"
)

// runcBench runs Debian's runc on an OCI bundle equivalent to what the
// sandbox does: same rootfs, same namespaces, cgroup limits and seccomp
// profile, detached, stdio to /dev/null.
type runcBench struct {
	bin    string
	bundle string
	root   string
}

func newRuncBench(bin, dir, rootfs string, spec hypercore.MachineSpec) (*runcBench, error) {
	bundle := filepath.Join(dir, "runc-bundle")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(bundle, "config.json")
	// The very spec our sandbox hands libcontainer (namespaces, caps,
	// masked paths, cgroup limits, seccomp), on the plain read-only rootfs:
	// runc gets no overlay or tmpfs to mount, which favours runc.
	s, err := ocispec.Build(spec, ocispec.Options{RootFS: rootfs, CgroupsPath: "/vimana-bench-runc/c", DefaultPids: 1024})
	if err != nil {
		return nil, err
	}
	s.Root.Readonly = true
	// Debian's runc 1.1 sets rlimits from inside the init, where it may
	// not raise them past this process's hard limit.
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: rl.Max, Soft: rl.Max}}
	}
	out, err := json.MarshalIndent(s, "", "  ")
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
	// A file, not a pipe: the detached container inherits runc's stderr
	// and would hold a pipe open forever.
	errFile, err := os.CreateTemp("", "runc-bench-stderr-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, errFile
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	del := exec.Command(r.bin, "--root", r.root, "delete", "-f", id)
	if out, derr := del.CombinedOutput(); derr != nil && err == nil {
		return 0, fmt.Errorf("runc delete: %v: %s", derr, out)
	}
	if err != nil {
		msg, _ := os.ReadFile(errFile.Name())
		return 0, fmt.Errorf("runc run: %w: %s", err, strings.TrimSpace(string(msg)))
	}
	return d, nil
}
