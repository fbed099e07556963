// Package microvm is the hypercore provider that runs each spacecore in its
// own QEMU "microvm" machine: a Debian cloud kernel, an initramfs whose
// /init is this very binary re-executed as the guest agent (package agent;
// see Reexec), and the image rootfs as an ext4 disk per machine
// (virtio-blk, sized by the disk limit). The host talks to the agent over a
// virtio-serial port (package wire) backed by a unix socket; the workload's
// output and its exit record go to two more ports that QEMU writes to files,
// so both survive a daemon restart. Published ports are QEMU user-network
// forwards. QEMU runs with KVM when a probe boot shows that a stock guest
// really boots under it, else with TCG (docs/microvm.md).
//
// Only internal/node's builtins and tests import this package.
package microvm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/machinestate"
	"github.com/vistara-labs/vimana/internal/hypercore/microvm/agent"
)

// Options configure the provider. Empty fields take defaults, several of
// them from the environment so tests and CI can share one kernel cache.
type Options struct {
	// QEMU is the emulator binary; default qemu-system-x86_64.
	QEMU string
	// Kernel is a guest vmlinuz (env VIMANA_MICROVM_KERNEL); default:
	// Debian's cloud kernel, downloaded once into CacheDir.
	Kernel string
	// Modules is the kernel's lib/modules/<version> directory (env
	// VIMANA_MICROVM_MODULES); default: next to Kernel as dpkg -x lays
	// it out.
	Modules string
	// CacheDir holds the downloaded kernel and built initramfs (env
	// VIMANA_MICROVM_CACHE); default <dir>/cache.
	CacheDir string
	// Accel is "kvm", "tcg" or "" to probe (env VIMANA_MICROVM_ACCEL).
	Accel string
	// DefaultMemory is the guest memory limit when a spec sets none;
	// default 256 MiB.
	DefaultMemory int64
	// DefaultDisk is the writable space when a spec sets none; default
	// 256 MiB.
	DefaultDisk int64
	// MaxLogBytes bounds the workload log and the console; a machine that
	// writes more is killed. Default 64 MiB.
	MaxLogBytes int64
	// Agent is the binary put in the initramfs as /init (env
	// VIMANA_MICROVM_AGENT); default: vimana-agent next to this
	// executable when it is there (small and static: guests boot seconds
	// faster under TCG), else this executable itself (see Reexec).
	Agent string
}

func (o *Options) fill(dir string) {
	env := func(v *string, key, def string) {
		if *v == "" {
			*v = os.Getenv(key)
		}
		if *v == "" {
			*v = def
		}
	}
	env(&o.QEMU, "VIMANA_MICROVM_QEMU", "qemu-system-x86_64")
	env(&o.Kernel, "VIMANA_MICROVM_KERNEL", "")
	env(&o.Modules, "VIMANA_MICROVM_MODULES", "")
	env(&o.CacheDir, "VIMANA_MICROVM_CACHE", filepath.Join(dir, "cache"))
	env(&o.Accel, "VIMANA_MICROVM_ACCEL", "")
	env(&o.Agent, "VIMANA_MICROVM_AGENT", "")
	if o.DefaultMemory == 0 {
		o.DefaultMemory = 256 << 20
	}
	if o.DefaultDisk == 0 {
		o.DefaultDisk = 256 << 20
	}
	if o.MaxLogBytes == 0 {
		o.MaxLogBytes = 64 << 20
	}
}

// Provider is the QEMU microvm provider.
type Provider struct {
	dir  string
	opts Options

	setupMu sync.Mutex
	setup   *vmSetup // kernel, initramfs, accelerator; once found

	mu       sync.Mutex
	machines map[string]*handle       // watched machines
	conns    map[string]*agentConn    // open agent connections
	dialing  map[string]chan struct{} // per-machine dial token (conn.go)
	starting map[string]bool          // Start in progress
	metaMu   sync.Mutex
}

var _ hypercore.Provider = (*Provider)(nil)

// New returns a provider keeping its state under dir.
func New(dir string, opts Options) (*Provider, error) {
	opts.fill(dir)
	if err := os.MkdirAll(filepath.Join(dir, "machines"), 0o700); err != nil {
		return nil, fmt.Errorf("microvm state dir: %w", err)
	}
	return &Provider{dir: dir, opts: opts, machines: map[string]*handle{}, conns: map[string]*agentConn{}, dialing: map[string]chan struct{}{}, starting: map[string]bool{}}, nil
}

// HostCacheDir is the kernel and initramfs cache the node and the CLI
// share by default (VIMANA_MICROVM_CACHE overrides it), so a host with
// several vimana homes (a devnet) downloads the guest kernel once.
const HostCacheDir = "/var/cache/vimana/microvm"

// HostOptions are the options the node and the CLI use: the defaults with
// the host-wide cache.
func HostOptions() Options {
	if os.Getenv("VIMANA_MICROVM_CACHE") != "" {
		return Options{}
	}
	return Options{CacheDir: HostCacheDir}
}

// Factory adapts New to hypercore.Factory with HostOptions.
func Factory(dir string) (hypercore.Provider, error) { return New(dir, HostOptions()) }

// Reexec runs the guest agent when this process is the init of a microvm
// guest, and never returns in that case.
func Reexec() bool {
	if os.Getpid() == 1 && os.Getenv(agent.EnvMarker) == "1" {
		agent.Main()
		return true // not reached
	}
	return false
}

// Name implements hypercore.Provider.
func (p *Provider) Name() string { return string(hypercore.IsolationMicroVM) }

// Probe implements hypercore.Provider: it finds QEMU and the guest kernel
// (downloading it on first use) and decides between KVM and TCG.
func (p *Provider) Probe(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the microvm provider needs root (it loads guest kernels and binds host ports)", hypercore.ErrUnavailable)
	}
	if _, err := exec.LookPath(p.opts.QEMU); err != nil {
		return fmt.Errorf("%w: %s not found (apt-get install qemu-system-x86)", hypercore.ErrUnavailable, p.opts.QEMU)
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return fmt.Errorf("%w: mkfs.ext4 not found (apt-get install e2fsprogs)", hypercore.ErrUnavailable)
	}
	_, err := p.vmSetup(ctx)
	return err
}

// Capabilities implements hypercore.Provider.
func (p *Provider) Capabilities() hypercore.Capabilities {
	return hypercore.Capabilities{
		Isolation: hypercore.IsolationMicroVM, Network: true, PortPublish: true, Exec: true,
		CPULimit: true, MemoryLimit: true, PidsLimit: true, DiskLimit: true, SurvivesCrash: true,
	}
}

// meta is what the provider persists per machine (meta.json).
type meta struct {
	ID        string                `json:"id"`
	Spec      hypercore.MachineSpec `json:"spec"`
	CreatedAt time.Time             `json:"created_at"`
	StartedAt time.Time             `json:"started_at,omitzero"`
	Ports     []hypercore.Port      `json:"ports,omitempty"`
	Pid       int                   `json:"pid,omitempty"`       // QEMU
	PidStart  uint64                `json:"pid_start,omitempty"` // its start time in /proc/<pid>/stat
	Accel     string                `json:"accel,omitempty"`     // kvm or tcg
	Exit      *hypercore.ExitStatus `json:"exit,omitempty"`
}

func (p *Provider) machineDir(id string) string { return filepath.Join(p.dir, "machines", id) }

// Files of a machine, in its directory.
const (
	fileRootfs  = "rootfs.img"
	fileLog     = "log"         // workload stdout+stderr (virtio-serial port -> file)
	fileExit    = "exit"        // the agent's exit record
	fileConsole = "console.log" // kernel and agent messages (ttyS0)
	fileQEMU    = "qemu.log"    // QEMU's own stderr
	fileCtl     = "ctl.sock"    // agent connection
)

func (p *Provider) path(id, file string) string { return filepath.Join(p.machineDir(id), file) }

func (p *Provider) saveMeta(m *meta) error { return machinestate.Save(p.machineDir(m.ID), m) }

func (p *Provider) loadMeta(id string) (*meta, error) {
	if err := hypercore.ValidID(id); err != nil {
		return nil, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
	}
	return machinestate.Load[meta](p.machineDir(id), id)
}

// updateMeta applies fn to the stored meta under the provider's lock.
func (p *Provider) updateMeta(id string, fn func(m *meta) error) (*meta, error) {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m, err := p.loadMeta(id)
	if err != nil {
		return nil, err
	}
	if err := fn(m); err != nil {
		return m, err
	}
	return m, p.saveMeta(m)
}

// List implements hypercore.Provider.
func (p *Provider) List(ctx context.Context) ([]string, error) {
	return machinestate.List(filepath.Join(p.dir, "machines"))
}
