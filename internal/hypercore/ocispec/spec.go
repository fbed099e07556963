// Package ocispec turns a hypercore.MachineSpec into an OCI runtime spec
// (runtime-spec v1) with Vistara's hardening defaults: namespaces, Docker's
// default capability set, masked and read-only /proc paths, no new
// privileges, rlimits, cgroup limits and the default seccomp profile.
//
// One builder serves every OCI-based provider (the libcontainer sandbox via
// specconv, gVisor's runsc via a bundle) and the bench/ comparison with
// Debian's runc, so all of them run exactly the same configuration. It
// imports no provider.
package ocispec

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Options are host-side facts the spec needs.
type Options struct {
	// RootFS is the directory the container pivots into (the merged
	// overlay for the sandbox).
	RootFS string
	// CgroupsPath for the container, e.g. "/vimana/<id>".
	CgroupsPath string
	// NetNSPath joins an existing network namespace (prepared by the
	// provider with a veth in it); empty creates a fresh one.
	NetNSPath string
	// Hostname defaults to the spec name.
	Hostname string
	// Seccomp off is for benchmarks comparing with/without only.
	NoSeccomp bool
	// DefaultPids applies when Resources.Pids is 0.
	DefaultPids int64
}

// DefaultCapabilities is Docker's default capability set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// MaskedPaths hide host information and kernel interfaces.
var MaskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// ReadonlyPaths are visible but not writable.
var ReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// Build returns the OCI spec for machine ms.
func Build(ms hypercore.MachineSpec, o Options) (*specs.Spec, error) {
	if len(ms.Process.Args) == 0 {
		return nil, fmt.Errorf("%w: no process args", hypercore.ErrInvalid)
	}
	uid, gid, err := parseUser(ms.Process.User)
	if err != nil {
		return nil, err
	}
	cwd := ms.Process.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("%w: working directory %q is not absolute", hypercore.ErrInvalid, cwd)
	}
	host := o.Hostname
	if host == "" {
		host = ms.Name
	}
	caps := append([]string(nil), DefaultCapabilities...)
	s := &specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: o.RootFS},
		Process: &specs.Process{
			Args: ms.Process.Args,
			Env:  withDefaultEnv(ms.Process.Env, host),
			Cwd:  cwd,
			User: specs.User{UID: uid, GID: gid},
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 65536, Soft: 65536}},
			NoNewPrivileges: true,
		},
		Hostname: host,
		Mounts:   mounts(ms),
		Linux: &specs.Linux{
			CgroupsPath:   o.CgroupsPath,
			Resources:     resources(ms.Resources, o.DefaultPids),
			Namespaces:    namespaces(o.NetNSPath),
			MaskedPaths:   MaskedPaths,
			ReadonlyPaths: ReadonlyPaths,
		},
	}
	if !o.NoSeccomp {
		s.Linux.Seccomp = DefaultSeccomp()
	}
	return s, nil
}

func namespaces(netns string) []specs.LinuxNamespace {
	return []specs.LinuxNamespace{
		{Type: specs.PIDNamespace},
		{Type: specs.NetworkNamespace, Path: netns},
		{Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace},
		{Type: specs.MountNamespace},
	}
}

func mounts(ms hypercore.MachineSpec) []specs.Mount {
	m := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
	for _, v := range ms.Volumes {
		opts := []string{"rbind", "nosuid", "nodev"}
		if v.ReadOnly {
			opts = append(opts, "ro")
		}
		m = append(m, specs.Mount{Destination: v.Path, Type: "bind", Source: v.HostPath, Options: opts})
	}
	return m
}

// CPUPeriod is the CFS period used to express fractional cores.
const CPUPeriod = 100000

func resources(r hypercore.Resources, defPids int64) *specs.LinuxResources {
	allowAll := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	for _, d := range defaultDevices {
		major, minor := d.major, d.minor
		allowAll = append(allowAll, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"})
	}
	res := &specs.LinuxResources{Devices: allowAll}
	if r.MilliCPU > 0 {
		quota := r.MilliCPU * CPUPeriod / 1000
		period := uint64(CPUPeriod)
		shares := uint64(r.MilliCPU * 1024 / 1000)
		if shares < 2 {
			shares = 2
		}
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares}
	}
	if r.MemoryBytes > 0 {
		mem := r.MemoryBytes
		swap := mem // memory+swap = memory: no swap
		res.Memory = &specs.LinuxMemory{Limit: &mem, Swap: &swap}
	}
	pids := r.Pids
	if pids <= 0 {
		pids = defPids
	}
	if pids > 0 {
		res.Pids = &specs.LinuxPids{Limit: &pids}
	}
	return res
}

type dev struct{ major, minor int64 }

// defaultDevices: null, zero, full, random, urandom, tty, ptmx/pts.
var defaultDevices = []dev{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}, {136, -1}}

func withDefaultEnv(env []string, host string) []string {
	out := append([]string(nil), env...)
	has := func(k string) bool {
		for _, e := range out {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		out = append(out, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if !has("HOSTNAME") {
		out = append(out, "HOSTNAME="+host)
	}
	return out
}

// parseUser accepts "", "uid" or "uid:gid" (numeric; names are resolved by
// the image layer before they get here).
func parseUser(u string) (uint32, uint32, error) {
	if u == "" {
		return 0, 0, nil
	}
	us, gs, hasG := strings.Cut(u, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: user %q: want numeric uid[:gid]", hypercore.ErrInvalid, u)
	}
	gid := uid
	if hasG {
		g, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: user %q: want numeric uid[:gid]", hypercore.ErrInvalid, u)
		}
		gid = g
	}
	return uint32(uid), uint32(gid), nil
}
