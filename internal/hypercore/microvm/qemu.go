package microvm

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/microvm/agent"
)

// vmSetup is what every machine of a provider shares.
type vmSetup struct {
	kernel    kernel
	initramfs string
	initSize  int64
	accel     string // "kvm" or "tcg"
	tscKHz    int64
}

// vmSetup finds the kernel, builds the initramfs and picks the accelerator
// on first use; failures are retried on the next call.
func (p *Provider) vmSetup(ctx context.Context) (*vmSetup, error) {
	p.setupMu.Lock()
	defer p.setupMu.Unlock()
	if p.setup != nil {
		// Mark the initramfs as in use (other processes remove stale
		// ones), and rebuild it should it have gone anyway.
		now := time.Now()
		if os.Chtimes(p.setup.initramfs, now, now) == nil {
			return p.setup, nil
		}
		p.setup = nil
	}
	k, err := findKernel(ctx, p.opts)
	if err != nil {
		return nil, err
	}
	exe, err := agentBinary(p.opts.Agent)
	if err != nil {
		return nil, err
	}
	ird, err := buildInitramfs(p.opts.CacheDir, exe, k)
	if err != nil {
		return nil, fmt.Errorf("%w: building the initramfs: %v", hypercore.ErrUnavailable, err)
	}
	fi, err := os.Stat(ird)
	if err != nil {
		return nil, err
	}
	s := &vmSetup{kernel: k, initramfs: ird, initSize: fi.Size(), tscKHz: hostTSCkHz()}
	if s.accel, err = p.pickAccel(ctx, k); err != nil {
		return nil, err
	}
	p.setup = s
	return s, nil
}

// AgentName is the standalone guest agent's file name (agent/vimana-agent),
// looked for next to the running executable.
const AgentName = "vimana-agent"

// agentBinary picks the guest's /init: the configured one, else
// vimana-agent beside this executable, else this executable.
func agentBinary(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("%w: guest agent: %v", hypercore.ErrUnavailable, err)
		}
		return configured, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("%w: finding this executable for the guest agent: %v", hypercore.ErrUnavailable, err)
	}
	if side := filepath.Join(filepath.Dir(self), AgentName); side != self {
		if fi, err := os.Stat(side); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return side, nil
		}
	}
	return self, nil
}

// hostTSCkHz is the host's TSC frequency: a TCG guest that calibrates its
// clock against emulated timers can hang or drift, so it is told instead.
func hostTSCkHz() int64 {
	if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/tsc_freq_khz"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			if mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return int64(math.Round(mhz * 1000))
			}
		}
	}
	return 0
}

// pickAccel returns the configured accelerator, or "kvm" when a stock guest
// boots under KVM here within a few seconds, else "tcg". The verdict is
// cached per kernel and host kernel (the probe costs seconds; on nested
// kvm-pvm hosts a stock guest hangs under KVM).
func (p *Provider) pickAccel(ctx context.Context, k kernel) (string, error) {
	switch p.opts.Accel {
	case "kvm", "tcg":
		return p.opts.Accel, nil
	case "":
	default:
		return "", fmt.Errorf("%w: accel %q: want kvm, tcg or empty", hypercore.ErrInvalid, p.opts.Accel)
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return "tcg", nil
	}
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	cache := filepath.Join(p.opts.CacheDir, "accel-"+shortHash(k.Vmlinuz+"\x00"+string(rel)))
	if b, err := os.ReadFile(cache); err == nil {
		if a := strings.TrimSpace(string(b)); a == "kvm" || a == "tcg" {
			return a, nil
		}
	}
	accel := "tcg"
	if kvmBoots(ctx, p.opts.QEMU, k, p.opts.CacheDir) {
		accel = "kvm"
	}
	_ = os.WriteFile(cache, []byte(accel+"\n"), 0o644)
	return accel, nil
}

// kvmBoots boots the kernel under KVM without an initramfs: a guest that
// works gets as far as "VFS: Unable to mount root fs", panics and (with
// panic=-1 and -no-reboot) makes QEMU exit. A hung guest is killed.
func kvmBoots(ctx context.Context, qemu string, k kernel, tmpDir string) bool {
	_ = os.MkdirAll(tmpDir, 0o755)
	f, err := os.CreateTemp(tmpDir, ".kvmprobe-*")
	if err != nil {
		return false
	}
	f.Close()
	defer os.Remove(f.Name())
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "128M",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-chardev", "file,id=con,path="+f.Name(), "-serial", "chardev:con",
		"-kernel", k.Vmlinuz, "-append", "console=ttyS0 panic=-1 loglevel=4")
	if err := cmd.Run(); err != nil && ctx.Err() != nil {
		return false
	}
	b, _ := os.ReadFile(f.Name())
	return strings.Contains(string(b), "Kernel panic") || strings.Contains(string(b), "VFS:")
}

// guestMemory is the -m size for a machine: the workload's limit (held by
// a cgroup inside the guest) plus room for the kernel, the unpacked
// initramfs and the agent, rounded up to MiB.
func guestMemory(limit, initSize int64) int64 {
	const kernelOverhead = 80 << 20
	m := limit + kernelOverhead + 2*initSize
	return (m + (1<<20 - 1)) >> 20
}

// tcgCacheMiB is TCG's translation block cache (-accel tcg,tb-size).
var tcgCacheMiB = 64

// qemuArgs builds QEMU's command line for a machine (run with the machine
// directory as its working directory).
func qemuArgs(s *vmSetup, dir string, m *meta, memLimit int64) []string {
	cpus := int((m.Spec.Resources.MilliCPU + 999) / 1000)
	cpus = max(1, min(cpus, runtime.NumCPU()))
	cmdline := []string{
		"console=ttyS0", "panic=-1", "rdinit=/init",
		"8250.nr_uarts=1", "i8042.noaux", "i8042.nomux", "i8042.nopnp", "i8042.dumbkbd",
		"random.trust_cpu=on", agent.EnvMarker + "=1",
	}
	if os.Getenv("VIMANA_MICROVM_DEBUG") == "" {
		// Kernel chatter on an emulated UART costs boot time.
		cmdline = append(cmdline, "quiet", "loglevel=3")
	}
	accel := []string{"-accel", s.accel}
	if s.accel == "kvm" {
		accel = append(accel, "-cpu", "host")
	} else {
		// TCG's translation cache defaults to 1 GiB of address space and
		// its touched part is resident: a small guest needs far less.
		accel[1] = "tcg,tb-size=" + strconv.Itoa(tcgCacheMiB)
		if s.tscKHz > 0 {
			cmdline = append(cmdline, fmt.Sprintf("tsc_early_khz=%d", s.tscKHz))
		}
		cmdline = append(cmdline, "tsc=reliable", "no_timer_check")
	}
	net := "user,id=n0"
	if !m.Spec.Network.Egress {
		net += ",restrict=on"
	}
	for _, pt := range m.Ports {
		proto := pt.Protocol
		if proto == "" {
			proto = "tcp"
		}
		net += fmt.Sprintf(",hostfwd=%s:%s:%d-:%d", proto, pt.HostIP, pt.HostPort, pt.Port)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	return append([]string{
		"-M", "microvm"}, append(accel,
		"-m", strconv.FormatInt(guestMemory(memLimit, s.initSize), 10)+"M", "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-kernel", s.kernel.Vmlinuz, "-initrd", s.initramfs, "-append", strings.Join(cmdline, " "),
		"-chardev", "file,id=con,path="+f(fileConsole), "-serial", "chardev:con",
		"-device", "virtio-serial-device,max_ports=4",
		"-chardev", "socket,id=ctl,path="+f(fileCtl)+",server=on,wait=off",
		"-device", "virtserialport,chardev=ctl,name="+agent.PortCtl,
		"-chardev", "file,id=log,append=on,path="+f(fileLog),
		"-device", "virtserialport,chardev=log,name="+agent.PortLog,
		"-chardev", "file,id=exit,append=on,path="+f(fileExit),
		"-device", "virtserialport,chardev=exit,name="+agent.PortExit,
		"-drive", "id=root,file="+f(fileRootfs)+",format=raw,if=none,cache=unsafe",
		"-device", "virtio-blk-device,drive=root",
		"-netdev", net, "-device", "virtio-net-device,netdev=n0",
	)...)
}
