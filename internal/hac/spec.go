// Package hac parses and validates hac.toml ("hardware as code"), the file
// that describes a spacecore: image, hardware, network, volumes, deploy
// terms and secret names. It maps the canonical schema and the two dialects
// of the original Vistara tools onto one Spec, reports every problem with
// file:line:col and the key path, and turns a Spec into a
// hypercore.MachineSpec.
//
// The schema, units and dialect mapping are documented in docs/hac.md.
//
// It must not import spacecore, node, chain, image or any provider.
package hac

// Spec is a parsed, validated hac.toml in canonical form.
type Spec struct {
	Spacecore Spacecore `json:"spacecore"`
	Image     Image     `json:"image"`
	Hardware  Hardware  `json:"hardware"`
	Network   Network   `json:"network"`
	Volumes   []Volume  `json:"volumes,omitempty"`
	Deploy    Deploy    `json:"deploy"`
	Secrets   Secrets   `json:"secrets,omitzero"`

	// File is where the spec came from ("" for in-memory input); relative
	// image paths were resolved against its directory.
	File string `json:"-"`
}

// Spacecore names the workload.
type Spacecore struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Version     string `json:"version,omitempty"`
}

// Image says what to run.
type Image struct {
	// Ref is a registry reference, "oci-layout:DIR[:TAG]" or
	// "docker-archive:FILE"; relative DIR/FILE are resolved against the
	// hac.toml's directory.
	Ref     string            `json:"ref"`
	Command []string          `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Workdir string            `json:"workdir,omitempty"`
	User    string            `json:"user,omitempty"`
}

// Hardware is what the spacecore gets. Sizes are bytes after parsing.
type Hardware struct {
	MilliCPU  int64  `json:"milli_cpu"`
	Memory    int64  `json:"memory_bytes"`
	Disk      int64  `json:"disk_bytes"`
	Bandwidth int64  `json:"bandwidth_bps,omitempty"` // bits per second
	Pids      int64  `json:"pids"`
	GPU       GPU    `json:"gpu,omitzero"`
	Isolation string `json:"isolation"`
}

// GPU asks for accelerators.
type GPU struct {
	Count  int    `json:"count"`
	Vendor string `json:"vendor,omitempty"`
	Model  string `json:"model,omitempty"`
	Memory int64  `json:"memory_bytes,omitempty"`
}

// Network is connectivity.
type Network struct {
	Ports  []Port `json:"ports,omitempty"`
	Egress bool   `json:"egress"`
}

// Port publishes a port.
type Port struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	HostPort int    `json:"host_port,omitempty"`
}

// Volume is a named persistent directory.
type Volume struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Size int64  `json:"size_bytes,omitempty"`
}

// Deploy holds market terms and runtime policy.
type Deploy struct {
	Replicas   int               `json:"replicas"`
	MaxPrice   int64             `json:"max_price_uvis,omitempty"` // per block
	Deposit    int64             `json:"deposit_uvis,omitempty"`
	Regions    []string          `json:"regions,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Restart    string            `json:"restart"`
}

// Secrets lists environment variable names whose values are supplied at
// deploy time (never written in the file).
type Secrets struct {
	Names []string `json:"names,omitempty"`
}

// Defaults for omitted keys.
const (
	DefaultMilliCPU = 1000
	DefaultMemory   = 256 << 20
	DefaultDisk     = 1 << 30
	DefaultPids     = 1024
	DefaultRestart  = "on-failure"
)
