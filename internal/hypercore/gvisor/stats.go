package gvisor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostcgroup"
	"golang.org/x/sys/unix"
)

// Stats implements hypercore.Provider from the sandbox's host cgroup (the
// sentry, gofer and their threads: what the machine costs the host), the
// veth counters and the writable layer's usage. runsc's own `events
// --stats` panics on a created container in this version, and the cgroup
// is what limits are enforced on anyway.
func (p *Provider) Stats(ctx context.Context, id string) (hypercore.Stats, error) {
	m, err := p.loadMeta(id)
	if err != nil {
		return hypercore.Stats{}, err
	}
	var out hypercore.Stats
	rel := filepath.Join(p.opts.CgroupParent, m.RunscID)
	for _, root := range hostcgroup.Roots() {
		d := filepath.Join(root, rel)
		switch filepath.Base(root) {
		case "cpu,cpuacct", "cpuacct":
			out.CPUUsageNanos = readUint(filepath.Join(d, "cpuacct.usage"))
		case "memory":
			out.MemoryBytes = readUint(filepath.Join(d, "memory.usage_in_bytes"))
			out.MemoryLimit = readUint(filepath.Join(d, "memory.limit_in_bytes"))
		case "pids":
			out.Pids = readUint(filepath.Join(d, "pids.current"))
		case "cgroup": // cgroup v2: one hierarchy
			if out.MemoryBytes == 0 {
				out.MemoryBytes = readUint(filepath.Join(d, "memory.current"))
				out.MemoryLimit = readUint(filepath.Join(d, "memory.max"))
				out.Pids = readUint(filepath.Join(d, "pids.current"))
				out.CPUUsageNanos = cpuStatUsec(filepath.Join(d, "cpu.stat")) * 1000
			}
		}
	}
	if m.Net != nil && m.Net.HostVeth != "" {
		// The host end's rx is what the machine sent.
		out.NetTxBytes = readUint(filepath.Join("/sys/class/net", m.Net.HostVeth, "statistics/rx_bytes"))
		out.NetRxBytes = readUint(filepath.Join("/sys/class/net", m.Net.HostVeth, "statistics/tx_bytes"))
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(filepath.Join(p.machineDir(id), "rw"), &fs); err == nil {
		out.DiskBytes = (fs.Blocks - fs.Bfree) * uint64(fs.Bsize)
	}
	return out, nil
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func cpuStatUsec(path string) uint64 {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}
