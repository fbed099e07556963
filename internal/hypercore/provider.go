// Package hypercore owns the contract between Vistara and the things that run
// spacecores: the Provider interface, the MachineSpec a provider is asked to
// run, machine states, error classes and the provider registry.
//
// Implementations live in sub-packages (sandbox, gvisor, microvm, fake) and are
// imported only by internal/node's builtins file and by tests. This package
// must not import any of them, nor spacecore, market or chain.
package hypercore

import (
	"context"
	"io"
	"time"
)

// Provider runs machines of one isolation level. Every method that blocks
// takes a context. Ids are chosen by the caller, must match ValidID and are
// unique per provider; a provider keeps enough state on disk under its own
// directory that a new Provider value (after a daemon restart) can find and
// manage machines created by an earlier one.
type Provider interface {
	// Name is the registry name, e.g. "sandbox".
	Name() string
	// Probe reports why this provider cannot run machines on this host
	// (missing binary, no privileges, ...), or nil when it can.
	Probe(ctx context.Context) error
	// Capabilities says what the provider can do; callers never type-switch.
	Capabilities() Capabilities

	// Create prepares a machine (rootfs, cgroups, network) without starting
	// the workload. On error nothing is left behind.
	Create(ctx context.Context, id string, spec MachineSpec) error
	// Start runs the workload of a created machine.
	Start(ctx context.Context, id string) error
	// Stop sends SIGTERM, waits up to grace, then SIGKILLs. Stopping a
	// machine that is not running is not an error.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Delete stops the machine if needed and removes everything it holds:
	// processes, cgroups, mounts, network devices, firewall rules, files.
	Delete(ctx context.Context, id string) error

	// State returns the machine's current status.
	State(ctx context.Context, id string) (Status, error)
	// Wait blocks until the workload exits (or ctx ends) and returns how.
	Wait(ctx context.Context, id string) (ExitStatus, error)
	// List returns the ids of all machines the provider knows, sorted.
	List(ctx context.Context) ([]string, error)

	// Exec runs a process inside a running machine and returns its exit code.
	Exec(ctx context.Context, id string, req ExecRequest) (int, error)
	// Logs returns the machine's combined stdout/stderr from the start of
	// its log; with follow it keeps streaming until ctx ends or the machine
	// stops and the log is drained.
	Logs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error)
	// Stats samples resource usage.
	Stats(ctx context.Context, id string) (Stats, error)
}

// Capabilities describes a provider to schedulers and to `vimana hardware`.
type Capabilities struct {
	Isolation     Isolation `json:"isolation"`
	Network       bool      `json:"network"`        // own network namespace and port publishing
	PortPublish   bool      `json:"port_publish"`   // host_port -> port forwarding
	Exec          bool      `json:"exec"`           // Exec supported
	CPULimit      bool      `json:"cpu_limit"`      // cores are enforced
	MemoryLimit   bool      `json:"memory_limit"`   // memory is enforced
	PidsLimit     bool      `json:"pids_limit"`     // process count is enforced
	DiskLimit     bool      `json:"disk_limit"`     // writable layer bounded by disk
	Seccomp       bool      `json:"seccomp"`        // syscall filter applied
	SurvivesCrash bool      `json:"survives_crash"` // machines outlive the daemon and are re-adoptable
}

// Isolation is the isolation level a spacecore asks for in hac.toml.
type Isolation string

// Isolation levels, weakest to strongest.
const (
	IsolationSandbox Isolation = "sandbox"
	IsolationGVisor  Isolation = "gvisor"
	IsolationMicroVM Isolation = "microvm"
	// IsolationFirecracker is a Firecracker microVM (needs hardware KVM).
	IsolationFirecracker Isolation = "firecracker"
)

// Valid reports whether i is a known isolation level.
func (i Isolation) Valid() bool {
	switch i {
	case IsolationSandbox, IsolationGVisor, IsolationMicroVM, IsolationFirecracker:
		return true
	}
	return false
}

// ExecRequest describes a process to run inside a machine.
type ExecRequest struct {
	Args   []string
	Env    []string // added to the machine's environment
	Dir    string
	User   string // "uid[:gid]"; empty = the machine's user
	TTY    bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer // ignored with TTY (merged into Stdout)
	// Size is the terminal's initial size with TTY; zero means 24x80.
	Size WindowSize
	// Resize delivers terminal size changes with TTY (nil: none). The
	// provider applies each one (the process sees SIGWINCH) until the
	// process exits; the sender must not block on it after that.
	Resize <-chan WindowSize
}

// WindowSize is a terminal's size in character cells.
type WindowSize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// LogOptions selects what Logs returns.
type LogOptions struct {
	Follow bool
}

// Stats is one sample of a machine's resource usage.
type Stats struct {
	CPUUsageNanos uint64 `json:"cpu_usage_ns"`
	MemoryBytes   uint64 `json:"memory_bytes"`
	MemoryLimit   uint64 `json:"memory_limit"`
	Pids          uint64 `json:"pids"`
	NetRxBytes    uint64 `json:"net_rx_bytes"`
	NetTxBytes    uint64 `json:"net_tx_bytes"`
	DiskBytes     uint64 `json:"disk_bytes"` // bytes written to the writable layer
}
