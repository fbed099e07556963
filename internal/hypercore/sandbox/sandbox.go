// Package sandbox is the hypercore provider that runs spacecores in Linux
// containers built with runc's libcontainer, embedded in the vimana binary
// (the container init is vimana re-executed: see Reexec). Each machine gets
// new pid, mount, uts, ipc and net namespaces, pivot_root into an overlay of
// the shared read-only image rootfs with a writable layer on a tmpfs bounded
// by the disk limit, cgroups (cpu quota, memory, pids) on v1 or v2, the
// default seccomp profile, no new privileges, Docker's capability set and
// masked /proc paths (all from internal/hypercore/ocispec). Networking is a
// veth per machine on the vimana bridge, isolated ports, NAT egress when
// allowed and DNAT port publishing (internal/hypercore/hostnet, shared with
// the gvisor provider).
//
// Only internal/node's builtins and tests import this package.
package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/opencontainers/cgroups/devices" // device rules in cgroups
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // setns for exec (cgo)
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostnet"
	"github.com/vistara-labs/vimana/internal/hypercore/logtail"
	"github.com/vistara-labs/vimana/internal/hypercore/machinestate"
)

// Options configure the provider.
type Options struct {
	// Bridge is the bridge all machines attach to; default "vimana0".
	Bridge string
	// Subnet of the bridge in CIDR; default "10.88.0.0/16". The bridge
	// takes the first address.
	Subnet string
	// CgroupParent is the cgroup under which machines are created;
	// default "/vimana".
	CgroupParent string
	// DefaultPids applies when a spec sets none; default 1024.
	DefaultPids int64
	// DNS are the nameservers written to each machine's resolv.conf;
	// default: the host's non-loopback IPv4 nameservers, else 8.8.8.8 and
	// 1.1.1.1.
	DNS []string
	// NoSeccomp turns the seccomp profile off (benchmarks only).
	NoSeccomp bool
}

func (o *Options) fill() {
	if o.Bridge == "" {
		o.Bridge = "vimana0"
	}
	if o.Subnet == "" {
		o.Subnet = "10.88.0.0/16"
	}
	if o.CgroupParent == "" {
		o.CgroupParent = "/vimana"
	}
	if o.DefaultPids == 0 {
		o.DefaultPids = 1024
	}
}

// Provider is the libcontainer sandbox provider.
type Provider struct {
	dir  string
	opts Options
	net  *hostnet.Network

	mu       sync.Mutex
	machines map[string]*machine // live handles, loaded lazily
	metaMu   sync.Mutex          // serialises read-modify-write of meta.json
	logw     logtail.Watcher     // one inotify instance for every log follower
	views    viewCache           // State's decoded summaries of meta.json
}

var _ hypercore.Provider = (*Provider)(nil)

// New returns a provider keeping its state under dir.
func New(dir string, opts Options) (*Provider, error) {
	opts.fill()
	for _, d := range []string{dir, filepath.Join(dir, "lc"), filepath.Join(dir, "machines")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("sandbox state dir: %w", err)
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

// Reexec runs the container init when this process was started as one by
// libcontainer ("<argv0> init"), and never returns in that case.
func Reexec() bool {
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		libcontainer.Init()
		return true // not reached
	}
	return false
}

// Name implements hypercore.Provider.
func (p *Provider) Name() string { return string(hypercore.IsolationSandbox) }

// Probe implements hypercore.Provider.
func (p *Provider) Probe(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the sandbox needs root (cgroups, namespaces, iptables)", hypercore.ErrUnavailable)
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return fmt.Errorf("%w: no cgroup filesystem: %v", hypercore.ErrUnavailable, err)
	}
	if err := p.net.Probe(); err != nil {
		return fmt.Errorf("%w: %v", hypercore.ErrUnavailable, err)
	}
	return nil
}

// Capabilities implements hypercore.Provider.
func (p *Provider) Capabilities() hypercore.Capabilities {
	return hypercore.Capabilities{
		Isolation: hypercore.IsolationSandbox, Network: true, PortPublish: true, Exec: true,
		CPULimit: true, MemoryLimit: true, PidsLimit: true, DiskLimit: true, Seccomp: !p.opts.NoSeccomp,
		SurvivesCrash: true,
	}
}

// meta is what the provider persists per machine (meta.json), enough to
// manage the machine from a new Provider value after a restart.
type meta struct {
	ID        string                `json:"id"`
	Spec      hypercore.MachineSpec `json:"spec"`
	CreatedAt time.Time             `json:"created_at"`
	StartedAt time.Time             `json:"started_at,omitzero"`
	Net       *hostnet.State        `json:"net,omitempty"`
	Ports     []hypercore.Port      `json:"ports,omitempty"`
	Exit      *hypercore.ExitStatus `json:"exit,omitempty"`
	OCI       *specs.Spec           `json:"oci"` // the runtime spec Start hands to libcontainer
}

func (p *Provider) machineDir(id string) string { return filepath.Join(p.dir, "machines", id) }
func (p *Provider) lcRoot() string              { return filepath.Join(p.dir, "lc") }

func (p *Provider) saveMeta(m *meta) error { return machinestate.Save(p.machineDir(m.ID), m) }

func (p *Provider) loadMeta(id string) (*meta, error) {
	return machinestate.Load[meta](p.machineDir(id), id)
}

// List implements hypercore.Provider.
func (p *Provider) List(ctx context.Context) ([]string, error) {
	return machinestate.List(filepath.Join(p.dir, "machines"))
}
