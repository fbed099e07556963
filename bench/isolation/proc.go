package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// measure sums the memory of instance id's processes: those in its memory
// cgroup, and (gvisor) the runsc run parent and shim found by the runsc
// container id on their command lines; for microvm, its QEMU process.
func measure(iso hypercore.Isolation, id string) (in, out usage) {
	cg := filepath.Join("/sys/fs/cgroup/memory/vimana", id)
	key := id
	if iso == hypercore.IsolationGVisor {
		// The gvisor provider's runsc container id (see gvisor.runscID).
		h := sha256.Sum256([]byte(id))
		key = "vm" + hex.EncodeToString(h[:15])
		cg = filepath.Join("/sys/fs/cgroup/memory/vimana-gvisor", key)
	}
	if iso == hypercore.IsolationMicroVM {
		// One QEMU process per machine, named by the paths on its
		// command line (the guest's memory is that process's memory).
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, f := range procs {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "/machines/"+id+"/") {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
				add(&in, pid)
			}
		}
		return in, out
	}
	inCg := map[int]bool{}
	if b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				inCg[pid] = true
			}
		}
	}
	for pid := range inCg {
		add(&in, pid)
	}
	if iso != hypercore.IsolationGVisor {
		return in, out
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if inCg[pid] {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), key) {
			add(&out, pid)
		}
	}
	return in, out
}

// add adds pid's Rss and Pss (smaps_rollup, in kB) to u.
func add(u *usage, pid int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return
	}
	u.procs++
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			u.rss += v << 10
		case "Pss:":
			u.pss += v << 10
		}
	}
}
