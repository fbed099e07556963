// Package gvisor is the hypercore provider that runs spacecores under
// gVisor: the `runsc` binary (found in PATH or configured) runs each
// machine from an OCI bundle built by internal/hypercore/ocispec, so the
// workload's system calls are served by gVisor's user-space kernel (the
// sentry) instead of the host kernel.
//
// Per machine it reuses what the sandbox provider uses on the host: the
// writable layer and overlay rootfs (internal/hypercore/machinefs), a
// network namespace the provider creates and plumbs with a veth on the
// vimana bridge plus the iptables isolation and DNAT port publishing
// (internal/hypercore/hostnet), the cgroup sweep (internal/hypercore/hostcgroup)
// and the log follower (internal/hypercore/logtail). runsc's netstack then
// owns the veth (`--network=sandbox`); machines that publish nothing and
// may not egress get `--network=none` (loopback only).
//
// Quirks of the runsc this was built against (Debian 0.0~20221219, see
// docs/gvisor.md): no systrap platform (ptrace is used; kvm only when
// configured and a probe proves it), container ids matched by prefix
// (runsc ids here are fixed-length hashes), `runsc wait` cannot report the
// exit of a container it is not the parent of (so a small shell shim runs
// `runsc run` and records its exit code in a file), its root-netns check
// misfires on Linux ≥ 6.x (worked around in netns.go), and a host pids
// limit hit crashes the whole sandbox (so the workload's process limit is
// RLIMIT_NPROC, enforced inside the sentry, and the host pids cgroup only
// a backstop with headroom for runsc's own threads).
//
// Only internal/node's builtins and tests import this package.
package gvisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostnet"
	"github.com/vistara-labs/vimana/internal/hypercore/logtail"
	"github.com/vistara-labs/vimana/internal/hypercore/machinestate"
)

// Options configure the provider.
type Options struct {
	// Runsc is the runsc binary; default "runsc" looked up in PATH.
	Runsc string
	// Platform is runsc's platform: "auto" (default: systrap when this
	// runsc has it, else ptrace), "systrap", "ptrace" or "kvm" (used only
	// when Probe starts a container on it within ProbeTimeout).
	Platform string
	// Bridge and Subnet are the vimana bridge; defaults are the sandbox's
	// ("vimana0", "10.88.0.0/16") so both providers share one bridge,
	// firewall and address pool.
	Bridge string
	Subnet string
	// CgroupParent is the cgroup runsc puts sandboxes under; default
	// "/vimana-gvisor".
	CgroupParent string
	// DefaultPids applies when a spec sets none; default 1024.
	DefaultPids int64
	// PidsHeadroom is added to 8x the workload's process limit for the
	// host pids cgroup, which also holds runsc's sentry, gofer and ptrace
	// stub threads; default 256 (a limit of 20 in all fails to boot).
	PidsHeadroom int64
	// DNS are the nameservers written to each machine's resolv.conf;
	// default as the sandbox.
	DNS []string
	// ProbeTimeout bounds the trivial container Probe starts; default 20s.
	ProbeTimeout time.Duration
}

func (o *Options) fill() {
	if o.Runsc == "" {
		o.Runsc = "runsc"
	}
	if o.Platform == "" {
		o.Platform = "auto"
	}
	if o.Bridge == "" {
		o.Bridge = "vimana0"
	}
	if o.Subnet == "" {
		o.Subnet = "10.88.0.0/16"
	}
	if o.CgroupParent == "" {
		o.CgroupParent = "/vimana-gvisor"
	}
	if o.DefaultPids == 0 {
		o.DefaultPids = 1024
	}
	if o.PidsHeadroom == 0 {
		o.PidsHeadroom = 256
	}
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = 20 * time.Second
	}
}

// Provider is the gVisor provider.
type Provider struct {
	dir  string
	opts Options
	net  *hostnet.Network

	probeMu  sync.Mutex
	probed   bool
	probeErr error
	runscBin string // resolved binary path, set by Probe
	platform string // resolved platform, set by Probe

	mu       sync.Mutex
	machines map[string]*machine // machines this value started
	metaMu   sync.Mutex          // serialises read-modify-write of meta.json
	logw     logtail.Watcher
}

var _ hypercore.Provider = (*Provider)(nil)

// New returns a provider keeping its state under dir.
func New(dir string, opts Options) (*Provider, error) {
	opts.fill()
	switch opts.Platform {
	case "auto", "systrap", "ptrace", "kvm":
	default:
		return nil, fmt.Errorf("%w: gvisor platform %q: want auto, systrap, ptrace or kvm", hypercore.ErrInvalid, opts.Platform)
	}
	for _, d := range []string{dir, filepath.Join(dir, "runsc"), filepath.Join(dir, "machines")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("gvisor state dir: %w", err)
		}
	}
	n, err := hostnet.New(opts.Bridge, opts.Subnet)
	if err != nil {
		return nil, err
	}
	return &Provider{dir: dir, opts: opts, net: n, machines: map[string]*machine{}}, nil
}

// Factory adapts New to hypercore.Factory with default options.
func Factory(dir string) (hypercore.Provider, error) { return New(dir, Options{}) }

// Name implements hypercore.Provider.
func (p *Provider) Name() string { return string(hypercore.IsolationGVisor) }

// Capabilities implements hypercore.Provider. Seccomp: the workload's
// system calls never reach the host; the sentry and gofer run under
// runsc's own seccomp filters (the OCI profile is not applied inside).
func (p *Provider) Capabilities() hypercore.Capabilities {
	return hypercore.Capabilities{
		Isolation: hypercore.IsolationGVisor, Network: true, PortPublish: true, Exec: true,
		CPULimit: true, MemoryLimit: true, PidsLimit: true, DiskLimit: true, Seccomp: true,
		SurvivesCrash: true,
	}
}

// meta is what the provider persists per machine (meta.json), enough to
// manage the machine from a new Provider value after a restart.
type meta struct {
	ID        string                `json:"id"`
	RunscID   string                `json:"runsc_id"` // the container id runsc knows
	Spec      hypercore.MachineSpec `json:"spec"`
	Platform  string                `json:"platform"`
	Network   string                `json:"network"` // runsc --network: sandbox or none
	CreatedAt time.Time             `json:"created_at"`
	StartedAt time.Time             `json:"started_at,omitzero"`
	ShimPid   int                   `json:"shim_pid,omitempty"`
	Net       *hostnet.State        `json:"net,omitempty"`
	Ports     []hypercore.Port      `json:"ports,omitempty"`
	Exit      *hypercore.ExitStatus `json:"exit,omitempty"`
}

// runscID maps a machine id to the container id runsc sees. runsc resolves
// ids by prefix, so "ct-1" would also address "ct-10"; every id here has
// the same length, so none is a prefix of another.
func runscID(id string) string {
	h := sha256.Sum256([]byte(id))
	return "vm" + hex.EncodeToString(h[:15])
}

func (p *Provider) machineDir(id string) string { return filepath.Join(p.dir, "machines", id) }
func (p *Provider) runscRoot() string           { return filepath.Join(p.dir, "runsc") }
func (p *Provider) logPath(id string) string    { return filepath.Join(p.machineDir(id), "console.log") }
func (p *Provider) exitPath(id string) string   { return filepath.Join(p.machineDir(id), "exit") }

func (p *Provider) saveMeta(m *meta) error { return machinestate.Save(p.machineDir(m.ID), m) }

func (p *Provider) loadMeta(id string) (*meta, error) {
	if hypercore.ValidID(id) != nil {
		return nil, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
	}
	return machinestate.Load[meta](p.machineDir(id), id)
}

// List implements hypercore.Provider.
func (p *Provider) List(ctx context.Context) ([]string, error) {
	return machinestate.List(filepath.Join(p.dir, "machines"))
}
