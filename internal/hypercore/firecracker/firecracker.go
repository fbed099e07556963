// Package firecracker is the start of a hypercore provider for Firecracker
// microVMs (the `firecracker` binary, run under its `jailer`), for hosts
// with real KVM. What exists is the part that can be checked without
// either: Probe, which says plainly why the provider is unavailable (no
// firecracker binary; /dev/kvm missing or kvm-pvm, the paravirtual KVM
// whose stock guests hang; no VT-x/AMD-V), an HTTP client for
// Firecracker's API socket (client.go) and the jailer's command line
// (jailer.go). Both are unit-tested against a fake API server and nothing
// more: no microVM has been booted by this code. Every machine operation
// returns ErrUnavailable until a host with KVM and a guest kernel and
// agent exist (docs/firecracker.md).
//
// Only internal/node's builtins and tests import this package.
package firecracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Options configure the provider.
type Options struct {
	// Firecracker and Jailer are the binaries; default "firecracker" and
	// "jailer" looked up in PATH.
	Firecracker string
	Jailer      string
	// KVM is the KVM device; default /dev/kvm.
	KVM string
	// sysModule and cpuinfo are overridden by tests.
	sysModule string
	cpuinfo   string
}

func (o *Options) fill() {
	if o.Firecracker == "" {
		o.Firecracker = "firecracker"
	}
	if o.Jailer == "" {
		o.Jailer = "jailer"
	}
	if o.KVM == "" {
		o.KVM = "/dev/kvm"
	}
	if o.sysModule == "" {
		o.sysModule = "/sys/module"
	}
	if o.cpuinfo == "" {
		o.cpuinfo = "/proc/cpuinfo"
	}
}

// Provider is the Firecracker provider (unavailable everywhere so far).
type Provider struct {
	dir  string
	opts Options
}

var _ hypercore.Provider = (*Provider)(nil)

// New returns a provider keeping its state under dir.
func New(dir string, opts Options) (*Provider, error) {
	opts.fill()
	return &Provider{dir: dir, opts: opts}, nil
}

// Factory adapts New to hypercore.Factory with default options.
func Factory(dir string) (hypercore.Provider, error) { return New(dir, Options{}) }

// Name implements hypercore.Provider.
func (p *Provider) Name() string { return string(hypercore.IsolationFirecracker) }

// Capabilities implements hypercore.Provider: what a Firecracker microVM
// would offer; nothing is offered while Probe fails.
func (p *Provider) Capabilities() hypercore.Capabilities {
	return hypercore.Capabilities{Isolation: hypercore.IsolationFirecracker}
}

// Probe implements hypercore.Provider.
func (p *Provider) Probe(ctx context.Context) error {
	if _, err := exec.LookPath(p.opts.Firecracker); err != nil {
		return fmt.Errorf("%w: firecracker binary not found (%s)", hypercore.ErrUnavailable, p.opts.Firecracker)
	}
	if _, err := exec.LookPath(p.opts.Jailer); err != nil {
		return fmt.Errorf("%w: jailer binary not found (%s)", hypercore.ErrUnavailable, p.opts.Jailer)
	}
	return p.probeKVM()
}

// probeKVM decides whether KVM here can run a stock guest kernel.
func (p *Provider) probeKVM() error {
	if _, err := os.Stat(p.opts.KVM); err != nil {
		return fmt.Errorf("%w: %s not present: no KVM", hypercore.ErrUnavailable, p.opts.KVM)
	}
	if _, err := os.Stat(p.opts.sysModule + "/kvm_pvm"); err == nil {
		return fmt.Errorf("%w: %s is kvm-pvm, not usable (stock guests hang under paravirtual KVM)", hypercore.ErrUnavailable, p.opts.KVM)
	}
	b, err := os.ReadFile(p.opts.cpuinfo)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", hypercore.ErrUnavailable, p.opts.cpuinfo, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				if f == "vmx" || f == "svm" {
					return fmt.Errorf("%w: KVM looks usable but this provider cannot run machines yet (no guest kernel/agent; see docs/firecracker.md)", hypercore.ErrUnavailable)
				}
			}
			break
		}
	}
	return fmt.Errorf("%w: %s without VT-x/AMD-V in the CPU flags: not hardware KVM", hypercore.ErrUnavailable, p.opts.KVM)
}

var errNotYet = errors.New("the firecracker provider cannot run machines yet")

func (p *Provider) unavailable(op, id string) error {
	if err := p.Probe(context.Background()); err != nil {
		return fmt.Errorf("%s %s: %w", op, id, err)
	}
	return fmt.Errorf("%s %s: %w: %v", op, id, hypercore.ErrUnavailable, errNotYet)
}

// Create implements hypercore.Provider; unavailable.
func (p *Provider) Create(ctx context.Context, id string, spec hypercore.MachineSpec) error {
	return p.unavailable("creating firecracker machine", id)
}

// Start implements hypercore.Provider; unavailable.
func (p *Provider) Start(ctx context.Context, id string) error {
	return fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
}

// Stop implements hypercore.Provider; no machine exists.
func (p *Provider) Stop(ctx context.Context, id string, grace time.Duration) error {
	return fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
}

// Delete implements hypercore.Provider; no machine exists.
func (p *Provider) Delete(ctx context.Context, id string) error {
	return fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
}

// State implements hypercore.Provider; no machine exists.
func (p *Provider) State(ctx context.Context, id string) (hypercore.Status, error) {
	return hypercore.Status{}, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
}

// Wait implements hypercore.Provider; no machine exists.
func (p *Provider) Wait(ctx context.Context, id string) (hypercore.ExitStatus, error) {
	return hypercore.ExitStatus{}, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
}

// List implements hypercore.Provider; there are never machines.
func (p *Provider) List(ctx context.Context) ([]string, error) { return nil, nil }

// Exec implements hypercore.Provider; no machine exists.
func (p *Provider) Exec(ctx context.Context, id string, req hypercore.ExecRequest) (int, error) {
	return 0, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
}

// Logs implements hypercore.Provider; no machine exists.
func (p *Provider) Logs(ctx context.Context, id string, opts hypercore.LogOptions) (io.ReadCloser, error) {
	return nil, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
}

// Stats implements hypercore.Provider; no machine exists.
func (p *Provider) Stats(ctx context.Context, id string) (hypercore.Stats, error) {
	return hypercore.Stats{}, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
}
