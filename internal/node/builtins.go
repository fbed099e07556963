package node

import (
	"path/filepath"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/firecracker"
	"github.com/vistara-labs/vimana/internal/hypercore/gvisor"
	"github.com/vistara-labs/vimana/internal/hypercore/microvm"
	"github.com/vistara-labs/vimana/internal/hypercore/sandbox"
)

// This file is the one list of built-in hypercore providers.

// reexecHooks are the providers' re-exec entry points, checked in order
// before anything else runs in main.
var reexecHooks = []func() bool{
	sandbox.Reexec,
	microvm.Reexec, // the guest agent: PID 1 inside a microvm
}

// init registers the providers. It runs in every process started from
// this binary, container inits included, so it only fills a map.
func init() {
	hypercore.Register(hypercore.IsolationSandbox, sandbox.Factory)
	hypercore.Register(hypercore.IsolationGVisor, gvisor.Factory)
	hypercore.Register(hypercore.IsolationFirecracker, firecracker.Factory)
	hypercore.Register(hypercore.IsolationMicroVM, microvm.Factory)
}

// providers builds the node's providers from its config. Providers that
// cannot run here are still returned; their Probe says why, and the
// supervisor refuses spacecores that ask for them.
func providers(home string, cfg Config) (map[hypercore.Isolation]hypercore.Provider, error) {
	sb, err := sandbox.New(filepath.Join(home, "hypercore", "sandbox"), sandbox.Options{
		Bridge: cfg.Sandbox.Bridge, Subnet: cfg.Sandbox.Subnet, CgroupParent: cfg.Sandbox.CgroupParent,
	})
	if err != nil {
		return nil, err
	}
	gv, err := gvisor.New(filepath.Join(home, "hypercore", "gvisor"), gvisor.Options{
		Runsc: cfg.GVisor.Runsc, Platform: cfg.GVisor.Platform, CgroupParent: cfg.GVisor.CgroupParent,
		Bridge: cfg.Sandbox.Bridge, Subnet: cfg.Sandbox.Subnet,
	})
	if err != nil {
		return nil, err
	}
	fc, err := firecracker.New(filepath.Join(home, "hypercore", "firecracker"), firecracker.Options{})
	if err != nil {
		return nil, err
	}
	// The microvm provider takes its kernel, cache and accelerator from
	// VIMANA_MICROVM_* (docs/microvm.md), the cache host-wide by default;
	// its Probe downloads the kernel on first use.
	mv, err := microvm.New(filepath.Join(home, "hypercore", "microvm"), microvm.HostOptions())
	if err != nil {
		return nil, err
	}
	return map[hypercore.Isolation]hypercore.Provider{
		hypercore.IsolationSandbox: sb, hypercore.IsolationGVisor: gv, hypercore.IsolationFirecracker: fc,
		hypercore.IsolationMicroVM: mv,
	}, nil
}
