// Package hostcgroup owns the host-side housekeeping of machine cgroups
// shared by the namespace-based providers (sandbox, gvisor): where the
// hierarchies are, a host-wide lock between creating machine cgroups and
// removing their emptied parent, and sweeping the per-machine directories
// a runtime leaves behind (libcontainer's Destroy on v1, runsc after a
// failed start). Limits themselves are set by the runtimes.
package hostcgroup

import (
	"github.com/opencontainers/cgroups"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Machines live in the cgroup <parent>/<id> (the sandbox's default
// /vimana/<id>), an absolute path: deliberately outside the daemon's own cgroup, so a
// service manager restarting or killing the daemon's cgroup does not take
// the spacecores with it (they are re-adopted; see Wait). libcontainer
// creates the parent on demand and, on cgroup v1, leaves it behind on
// Destroy; teardown removes it once the last machine is gone.

// cgroupLockPath serialises "create a machine cgroup" (shared) against
// "remove the now-empty parent" (exclusive) across every vimana process on
// the host: otherwise a parent removed between libcontainer's MkdirAll
// steps fails a concurrent Start.
const cgroupLockPath = "/run/vimana/cgroup.lock"

// Lock takes the host-wide cgroup lock (how is unix.LOCK_SH or
// unix.LOCK_EX) and returns the unlock func. Locking errors (no /run)
// degrade to no locking rather than failing starts.
func Lock(how int) func() {
	_ = os.MkdirAll(filepath.Dir(cgroupLockPath), 0o700)
	f, err := os.OpenFile(cgroupLockPath, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return func() {}
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return func() {}
	}
	return func() { f.Close() } // closing releases the lock
}

// Roots lists the directories a cgroup path is created under: every
// v1 controller mount (plus the hybrid "unified" v2 mount), or the single
// v2 hierarchy.
func Roots() []string {
	if cgroups.IsCgroup2UnifiedMode() {
		return []string{"/sys/fs/cgroup"}
	}
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	var roots []string
	for _, e := range ents {
		if e.IsDir() { // skips the cpu -> cpu,cpuacct style symlinks
			roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return roots
}

// Remove removes parent/id in every hierarchy (libcontainer's
// Destroy may leave some when it races with the exiting init), then the
// parent's own directories if no machine is left in them.
func Remove(parent, id string) {
	roots := Roots()
	for _, r := range roots {
		_ = unix.Rmdir(filepath.Join(r, parent, id))
	}
	// Blocking: skipping when busy could leave the parent behind for good
	// (two last machines deleted at once). Starts hold the lock for
	// milliseconds only.
	unlock := Lock(unix.LOCK_EX)
	defer unlock()
	for _, r := range roots {
		// Deepest first; rmdir fails (EBUSY/ENOTEMPTY) while any
		// machine cgroup remains, which is what we want.
		for p := filepath.Clean("/" + parent); p != "/"; p = filepath.Dir(p) {
			if err := unix.Rmdir(filepath.Join(r, p)); err != nil {
				break
			}
		}
	}
}

// Leftovers lists the directories of parent/id (and of parent itself
// when withParent) that still exist; tests use it.
func Leftovers(parent, id string, withParent bool) []string {
	var out []string
	for _, r := range Roots() {
		for _, d := range []string{filepath.Join(r, parent, id), filepath.Join(r, parent)} {
			if !withParent && !strings.HasSuffix(d, id) {
				continue
			}
			if _, err := os.Stat(d); err == nil {
				out = append(out, d)
			}
		}
	}
	return out
}
