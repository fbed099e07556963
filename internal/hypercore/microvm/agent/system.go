package agent

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vistara-labs/vimana/internal/hypercore/microvm/wire"
)

// cgroupDir holds the workload and its exec sessions.
const cgroupDir = "/sys/fs/cgroup/workload"

func setupCgroup() error {
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpu +memory +pids"), 0); err != nil {
		return fmt.Errorf("enabling cgroup controllers: %w", err)
	}
	// The workload's memory limit is its cgroup's, so its OOM kills stay
	// inside the group and never reach the agent. (No oom_score_adj on the
	// agent: children inherit it, and -1000 would make the workload
	// unkillable.)
	if err := os.Mkdir(cgroupDir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return nil
}

func applyLimits(r wire.Run) error {
	set := func(file, v string) error {
		if err := os.WriteFile(filepath.Join(cgroupDir, file), []byte(v), 0); err != nil {
			return fmt.Errorf("cgroup %s=%s: %w", file, v, err)
		}
		return nil
	}
	if r.MemoryBytes > 0 {
		if err := set("memory.max", strconv.FormatInt(r.MemoryBytes, 10)); err != nil {
			return err
		}
	}
	if r.Pids > 0 {
		if err := set("pids.max", strconv.FormatInt(r.Pids, 10)); err != nil {
			return err
		}
	}
	if r.MilliCPU > 0 {
		if err := set("cpu.max", fmt.Sprintf("%d 100000", r.MilliCPU*100)); err != nil {
			return err
		}
	}
	return nil
}

// readKV reads "key value" lines of a cgroup file.
func readKV(path string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), " ")
		if ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			out[k] = n
		}
	}
	return out
}

func readUint(path string) uint64 {
	b, _ := os.ReadFile(path)
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func sample() wire.Stats {
	st := wire.Stats{
		CPUUsageNanos: readKV(filepath.Join(cgroupDir, "cpu.stat"))["usage_usec"] * 1000,
		MemoryBytes:   readUint(filepath.Join(cgroupDir, "memory.current")),
		MemoryLimit:   readUint(filepath.Join(cgroupDir, "memory.max")), // "max" reads as 0
		Pids:          readUint(filepath.Join(cgroupDir, "pids.current")),
		NetRxBytes:    readUint("/sys/class/net/eth0/statistics/rx_bytes"),
		NetTxBytes:    readUint("/sys/class/net/eth0/statistics/tx_bytes"),
	}
	var fs unixStatfs
	if statfs("/", &fs) == nil {
		st.DiskBytes = (fs.Blocks - fs.Bfree) * uint64(fs.Bsize)
	}
	return st
}

func oomKilled() bool { return readKV(filepath.Join(cgroupDir, "memory.events"))["oom_kill"] > 0 }

// killAll ends every process left in the workload's cgroup.
func killAll() { _ = os.WriteFile(filepath.Join(cgroupDir, "cgroup.kill"), []byte("1"), 0) }

// QEMU's user networking: the guest is 10.0.2.15/24, the gateway (and the
// host) 10.0.2.2, the DNS forwarder 10.0.2.3.
const (
	guestCIDR = "10.0.2.15/24"
	gateway   = "10.0.2.2"
	dnsServer = "10.0.2.3"
)

func setupNetwork() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return err
	}
	eth, err := netlink.LinkByName("eth0")
	if err != nil {
		return err
	}
	addr, err := netlink.ParseAddr(guestCIDR)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(eth, addr); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return err
	}
	return netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.ParseIP(gateway)})
}

// writeEtc gives the workload a hostname, /etc/hosts and, with egress, a
// resolver.
func writeEtc(r wire.Run) {
	name := r.Hostname
	if name == "" {
		name = "spacecore"
	}
	_ = sethostname(name)
	_ = os.MkdirAll("/etc", 0o755)
	_ = os.WriteFile("/etc/hostname", []byte(name+"\n"), 0o644)
	_ = os.WriteFile("/etc/hosts", []byte("127.0.0.1\tlocalhost\n10.0.2.15\t"+name+"\n"), 0o644)
	if r.Egress {
		_ = os.WriteFile("/etc/resolv.conf", []byte("nameserver "+dnsServer+"\n"), 0o644)
	}
}
