package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// Stats implements hypercore.Provider from the machine's cgroup, its veth
// counters and the writable layer's usage.
func (p *Provider) Stats(ctx context.Context, id string) (hypercore.Stats, error) {
	m, err := p.loadMeta(id)
	if err != nil {
		return hypercore.Stats{}, err
	}
	c, err := p.load(id)
	if err != nil {
		return hypercore.Stats{}, err
	}
	var out hypercore.Stats
	if s, err := c.Stats(); err == nil && s.CgroupStats != nil {
		cs := s.CgroupStats
		out.CPUUsageNanos = cs.CpuStats.CpuUsage.TotalUsage
		out.MemoryBytes = cs.MemoryStats.Usage.Usage
		out.MemoryLimit = cs.MemoryStats.Usage.Limit
		out.Pids = cs.PidsStats.Current
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
