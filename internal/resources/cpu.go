package resources

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
)

// CPU describes the processors.
type CPU struct {
	Model         string  `json:"model"`
	Vendor        string  `json:"vendor"`
	Arch          string  `json:"arch"`        // Go's name (amd64, arm64): what images are built for
	KernelArch    string  `json:"kernel_arch"` // uname -m (x86_64, aarch64)
	Sockets       int     `json:"sockets"`
	PhysicalCores int     `json:"physical_cores"`
	LogicalCores  int     `json:"logical_cores"`
	MHz           float64 `json:"mhz"`
	// Flags are the feature flags that matter to workloads and to the
	// hypervisors, sorted: avx, avx2, avx512*, aes, vaes, sha_ni, vmx, svm.
	Flags []string `json:"flags"`

	hostFlags map[string]bool // every flag, for virtualization hints
}

// Virtualization holds hints about running virtual machines here. They are
// hints only: /dev/kvm can exist while stock guests hang (paravirtual or
// nested KVM such as kvm-pvm). Whether microVMs really work is decided by
// the microvm provider's Probe, which boots a guest, and is shown in the
// isolation report.
type Virtualization struct {
	// HWExtension is "vmx" (Intel VT-x) or "svm" (AMD-V) when the CPU shows
	// it to this kernel, else "".
	HWExtension string `json:"hw_extension"`
	// KVMDevice is true when the KVM device node exists.
	KVMDevice bool `json:"kvm_device"`
	// Guest is true when this machine is itself a virtual machine (the
	// CPU's "hypervisor" flag).
	Guest bool `json:"guest"`
	// System is the hypervisor or container system this host runs inside
	// as gopsutil detects it (kvm, xen, docker, lxc, ...); "" when none.
	System string `json:"system"`
	// Note says in one sentence what the hints mean.
	Note string `json:"note"`
}

// interesting reports whether a CPU flag goes into CPU.Flags.
func interesting(flag string) bool {
	switch flag {
	case "avx", "avx2", "aes", "vaes", "sha_ni", "vmx", "svm":
		return true
	}
	return strings.HasPrefix(flag, "avx512")
}

func discoverCPU(ctx context.Context) (CPU, error) {
	// cpu.Info returns one entry per logical CPU (VERIFIED.md).
	infos, err := cpu.InfoWithContext(ctx)
	if err != nil {
		return CPU{}, err
	}
	if len(infos) == 0 {
		return CPU{}, errors.New("no processors listed")
	}
	c := CPU{Arch: runtime.GOARCH, Model: infos[0].ModelName, Vendor: infos[0].VendorID, MHz: infos[0].Mhz}
	c.KernelArch, _ = host.KernelArch()
	sockets := map[string]bool{}
	c.hostFlags = map[string]bool{}
	for _, in := range infos {
		sockets[in.PhysicalID] = true
		for _, f := range in.Flags {
			c.hostFlags[f] = true
		}
	}
	c.Sockets = len(sockets)
	c.Flags = flagsOfInterest(c.hostFlags)
	if c.LogicalCores, err = cpu.CountsWithContext(ctx, true); err != nil || c.LogicalCores == 0 {
		c.LogicalCores = runtime.NumCPU()
	}
	if c.PhysicalCores, err = cpu.CountsWithContext(ctx, false); err != nil || c.PhysicalCores == 0 {
		c.PhysicalCores = c.LogicalCores
	}
	return c, nil
}

func flagsOfInterest(all map[string]bool) []string {
	out := []string{}
	for f := range all {
		if interesting(f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func discoverVirtualization(ctx context.Context, flags map[string]bool, kvmDevice string) Virtualization {
	v := Virtualization{Guest: flags["hypervisor"]}
	switch {
	case flags["vmx"]:
		v.HWExtension = "vmx"
	case flags["svm"]:
		v.HWExtension = "svm"
	}
	if fi, err := os.Stat(kvmDevice); err == nil && fi.Mode()&os.ModeDevice != 0 {
		v.KVMDevice = true
	}
	if system, role, err := host.VirtualizationWithContext(ctx); err == nil && role == "guest" {
		v.System = system
	}
	v.Note = virtNote(v)
	return v
}

func virtNote(v Virtualization) string {
	const decides = "presence is not proof that guests boot: the microvm provider's probe decides"
	switch {
	case v.KVMDevice && v.HWExtension == "":
		return "/dev/kvm exists but the CPU shows no vmx/svm (paravirtual or nested KVM); " + decides
	case v.KVMDevice:
		return "/dev/kvm exists and the CPU shows " + v.HWExtension + "; " + decides
	case v.HWExtension != "":
		return "the CPU shows " + v.HWExtension + " but there is no /dev/kvm (kvm module not loaded?); microVMs can only use TCG emulation"
	default:
		return "no /dev/kvm and no vmx/svm: microVMs can only use TCG emulation"
	}
}
