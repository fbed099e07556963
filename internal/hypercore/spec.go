package hypercore

import (
	"fmt"
	"regexp"
	"time"
)

// MachineSpec is everything a provider needs to run one spacecore. It is
// produced from hac.toml (internal/hac) plus the unpacked image
// (internal/image); providers never parse hac.toml themselves.
type MachineSpec struct {
	// Name is the human name from hac [spacecore] name; also the hostname.
	Name string `json:"name"`
	// RootFS is a directory holding the unpacked image. Providers treat it
	// as read-only and shared between machines; writes go to a per-machine
	// layer bounded by Resources.DiskBytes.
	RootFS string `json:"rootfs"`
	// Process is the workload.
	Process Process `json:"process"`
	// Resources are the limits the provider enforces.
	Resources Resources `json:"resources"`
	// Network is the network the machine gets.
	Network Network `json:"network"`
	// Volumes are host directories mounted into the machine.
	Volumes []Volume `json:"volumes,omitempty"`
	// Isolation is the level asked for; the registry picks the provider.
	Isolation Isolation `json:"isolation"`
	// Labels are opaque to providers and kept with the machine.
	Labels map[string]string `json:"labels,omitempty"`
}

// Process is the workload's command line and environment.
type Process struct {
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`  // KEY=VALUE
	Cwd  string   `json:"cwd,omitempty"`  // default "/"
	User string   `json:"user,omitempty"` // "uid[:gid]"; default 0:0
}

// Resources are enforced limits. Zero means the provider's default.
type Resources struct {
	MilliCPU    int64 `json:"milli_cpu"`    // 1000 = one core
	MemoryBytes int64 `json:"memory_bytes"` // hard limit; OOM kill above it
	DiskBytes   int64 `json:"disk_bytes"`   // writable layer size
	Pids        int64 `json:"pids"`         // max processes/threads
	GPUs        int   `json:"gpus,omitempty"`
}

// Network describes connectivity.
type Network struct {
	// Egress allows connections out of the machine (NAT). Without it the
	// machine can only answer on its published ports.
	Egress bool   `json:"egress"`
	Ports  []Port `json:"ports,omitempty"`
}

// Port publishes a machine port on the host.
type Port struct {
	Port     int    `json:"port"`      // inside the machine
	HostPort int    `json:"host_port"` // 0 = provider picks a free one
	Protocol string `json:"protocol"`  // "tcp" (default) or "udp"
	HostIP   string `json:"host_ip,omitempty"`
}

// Volume mounts a host directory.
type Volume struct {
	Name     string `json:"name"`
	HostPath string `json:"host_path"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// State is the lifecycle state of a machine.
type State string

// Machine states. Created -> Running -> Stopped; Deleted machines are gone
// (State returns ErrNotFound).
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StatePaused  State = "paused"
	StateStopped State = "stopped"
	StateUnknown State = "unknown"
)

// Status is a machine's observed state.
type Status struct {
	ID        string            `json:"id"`
	State     State             `json:"state"`
	Pid       int               `json:"pid,omitempty"`
	IP        string            `json:"ip,omitempty"`
	Ports     []Port            `json:"ports,omitempty"` // with the host ports actually bound
	CreatedAt time.Time         `json:"created_at"`
	StartedAt time.Time         `json:"started_at,omitzero"`
	Exit      *ExitStatus       `json:"exit,omitempty"` // set once stopped
	Labels    map[string]string `json:"labels,omitempty"`
}

// ExitStatus says how a workload ended.
type ExitStatus struct {
	Code      int       `json:"code"`             // exit code, or 128+signal
	Signal    int       `json:"signal,omitempty"` // terminating signal, 0 if it exited
	OOMKilled bool      `json:"oom_killed,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidID checks a machine id: 1-63 lowercase letters, digits and dashes,
// starting with a letter or digit, so it is usable as a DNS label, a cgroup
// name and a file name.
func ValidID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("%w: machine id %q: want 1-63 of [a-z0-9-], starting with [a-z0-9]", ErrInvalid, id)
	}
	return nil
}
