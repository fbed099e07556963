// Package resources owns what a node knows about its own hardware and how
// much of it is promised to spacecores: discovery (CPU, memory, disks, network
// interfaces, GPUs, virtualization hints) from gopsutil, /sys, NVML and
// nvidia-smi; the capacity Ledger that admits or refuses spacecores; and the
// isolation report built from the hypercore registry's probes.
//
// It sits beside hypercore: it imports hypercore for Resources, error classes
// and the registry, and must not import chain, market, node, spacecore or any
// provider implementation.
package resources

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Report is one discovery of this machine's hardware. It is serialized as
// JSON by `vimana hardware -o json` and stored by `vimana node init`: keys
// are stable, lists are never null and sorted, and volatile figures (uptime,
// load) are left out on purpose.
type Report struct {
	Host   Host   `json:"host"`
	CPU    CPU    `json:"cpu"`
	Memory Memory `json:"memory"`
	Disks  []Disk `json:"disks"`
	NICs   []NIC  `json:"nics"`
	GPUs   []GPU  `json:"gpus"`
	// GPUSources says, per source (nvml, nvidia-smi, drm), what it found
	// or why it was not asked: the answer to "why no GPU?".
	GPUSources     []string       `json:"gpu_sources"`
	Virtualization Virtualization `json:"virtualization"`
	// Warnings name the parts that could not be read; the rest of the
	// report is still valid.
	Warnings []string `json:"warnings"`
}

// Host identifies the operating system.
type Host struct {
	Hostname        string `json:"hostname"`
	OS              string `json:"os"`               // "linux"
	Platform        string `json:"platform"`         // e.g. "debian"
	PlatformVersion string `json:"platform_version"` // e.g. "12.8"
	KernelVersion   string `json:"kernel_version"`
}

// Memory is the machine's RAM and swap.
type Memory struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
	SwapTotalBytes uint64 `json:"swap_total_bytes"`
}

// Sources says where discovery reads from. The zero value reads this host;
// tests point the paths at fake trees under testdata.
type Sources struct {
	// SysFS is the sysfs root; default "/sys".
	SysFS string
	// KVMDevice is the KVM device node; default "/dev/kvm".
	KVMDevice string
	// NvidiaSMI is the nvidia-smi command (a name looked up in PATH, or a
	// path); default "nvidia-smi". "-" skips it.
	NvidiaSMI string
	// NoNVML skips NVML even when the binary is built with it.
	NoNVML bool
	// DataDir is where spacecore data lives (the node home); its
	// filesystem is marked Data and sizes the disk capacity. Default "/".
	DataDir string
}

func (s Sources) withDefaults() Sources {
	if s.SysFS == "" {
		s.SysFS = "/sys"
	}
	if s.KVMDevice == "" {
		s.KVMDevice = "/dev/kvm"
	}
	if s.NvidiaSMI == "" {
		s.NvidiaSMI = "nvidia-smi"
	}
	if s.DataDir == "" {
		s.DataDir = "/"
	}
	if abs, err := filepath.Abs(s.DataDir); err == nil {
		s.DataDir = abs
	}
	return s
}

// Discover reads this host's hardware with default Sources.
func Discover(ctx context.Context) (Report, error) { return Sources{}.Discover(ctx) }

// Discover reads the hardware. It fails only when the CPU or memory cannot
// be read (without them there is no capacity to offer) or ctx ends; any
// other part that cannot be read becomes a warning.
func (s Sources) Discover(ctx context.Context) (Report, error) {
	s = s.withDefaults()
	var r Report
	warn := func(part string, err error) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %v", part, err))
	}
	if hi, err := host.InfoWithContext(ctx); err == nil {
		r.Host = Host{Hostname: hi.Hostname, OS: hi.OS, Platform: hi.Platform,
			PlatformVersion: hi.PlatformVersion, KernelVersion: hi.KernelVersion}
	} else {
		r.Host.OS = runtime.GOOS
		warn("host", err)
	}
	cpu, err := discoverCPU(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("discovering cpu: %w: %v", hypercore.ErrUnavailable, err)
	}
	r.CPU = cpu
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("discovering memory: %w: %v", hypercore.ErrUnavailable, err)
	}
	r.Memory = Memory{TotalBytes: vm.Total, AvailableBytes: vm.Available, SwapTotalBytes: vm.SwapTotal}
	if r.Disks, err = discoverDisks(ctx, s.DataDir); err != nil {
		warn("disks", err)
	}
	if r.NICs, err = discoverNICs(ctx, s.SysFS); err != nil {
		warn("network", err)
	}
	var gw []string
	r.GPUs, r.GPUSources, gw = s.discoverGPUs(ctx)
	r.Warnings = append(r.Warnings, gw...)
	r.Virtualization = discoverVirtualization(ctx, cpu.hostFlags, s.KVMDevice)
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	r.normalize()
	return r, nil
}

// normalize makes nil lists empty so the JSON shape never changes.
func (r *Report) normalize() {
	if r.Disks == nil {
		r.Disks = []Disk{}
	}
	if r.NICs == nil {
		r.NICs = []NIC{}
	}
	if r.GPUs == nil {
		r.GPUs = []GPU{}
	}
	if r.GPUSources == nil {
		r.GPUSources = []string{}
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	if r.CPU.Flags == nil {
		r.CPU.Flags = []string{}
	}
	for i := range r.NICs {
		if r.NICs[i].Addrs == nil {
			r.NICs[i].Addrs = []string{}
		}
	}
}

// DataDisk returns the disk holding the data directory, if it was found.
func (r Report) DataDisk() (Disk, bool) {
	for _, d := range r.Disks {
		if d.Data {
			return d, true
		}
	}
	return Disk{}, false
}

// Capacity is what the hardware offers before any policy: every logical CPU,
// all RAM, the free space of the data disk at discovery time (space already
// used by the host or earlier spacecores is not offered again), and every GPU.
func (r Report) Capacity() Capacity {
	c := Capacity{
		MilliCPU:    int64(r.CPU.LogicalCores) * 1000,
		MemoryBytes: clampInt64(r.Memory.TotalBytes),
		GPUs:        len(r.GPUs),
	}
	if d, ok := r.DataDisk(); ok {
		c.DiskBytes = clampInt64(d.FreeBytes)
	}
	return c
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
