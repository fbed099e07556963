package gvisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netns"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/machinefs"
	"github.com/vistara-labs/vimana/internal/hypercore/ocispec"
)

// Create implements hypercore.Provider: the writable layer and rootfs,
// the network namespace with its veth and firewall rules, and the OCI
// bundle. runsc itself runs only at Start. Every step is undone on
// failure.
func (p *Provider) Create(ctx context.Context, id string, spec hypercore.MachineSpec) (err error) {
	if err := hypercore.ValidID(id); err != nil {
		return err
	}
	if len(spec.Process.Args) == 0 {
		return fmt.Errorf("creating gvisor machine %s: %w: no process args", id, hypercore.ErrInvalid)
	}
	if fi, serr := os.Stat(spec.RootFS); serr != nil || !fi.IsDir() {
		return fmt.Errorf("creating gvisor machine %s: %w: rootfs %q is not a directory", id, hypercore.ErrInvalid, spec.RootFS)
	}
	if err := p.Probe(ctx); err != nil {
		return fmt.Errorf("creating gvisor machine %s: %w", id, err)
	}
	dir := p.machineDir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating gvisor machine %s: %w", id, hypercore.ErrAlreadyExists)
		}
		return fmt.Errorf("creating gvisor machine %s: %w", id, err)
	}
	m := &meta{ID: id, RunscID: runscID(id), Spec: spec, Platform: p.Platform(), Network: "none", CreatedAt: time.Now().UTC()}
	defer func() {
		if err != nil {
			p.teardown(context.WithoutCancel(ctx), id, m)
		}
	}()
	merged, err := machinefs.Mount(dir, spec.RootFS, spec.Resources.DiskBytes)
	if err != nil {
		return fmt.Errorf("creating gvisor machine %s: %w", id, err)
	}
	nsPath := ""
	if spec.Network.Egress || len(spec.Network.Ports) > 0 {
		m.Network = "sandbox"
		nsPath = filepath.Join(dir, "netns")
		if err := newNetNS(nsPath); err != nil {
			return fmt.Errorf("creating gvisor machine %s: %w", id, err)
		}
		ns, err := p.net.Reserve(id)
		m.Net = ns
		if err != nil {
			return fmt.Errorf("creating gvisor machine %s: network: %w", id, err)
		}
		ports, err := p.net.Publish(id, ns, spec.Network)
		m.Ports = ports
		if err != nil {
			return fmt.Errorf("creating gvisor machine %s: %w", id, err)
		}
		nsh, err := netns.GetFromPath(nsPath)
		if err != nil {
			return fmt.Errorf("creating gvisor machine %s: %w", id, err)
		}
		err = p.net.PlumbNS(ns, nsh)
		nsh.Close()
		if err != nil {
			return fmt.Errorf("creating gvisor machine %s: network: %w", id, err)
		}
	}
	oci, err := p.ociSpec(id, spec, merged, nsPath, m)
	if err != nil {
		return fmt.Errorf("creating gvisor machine %s: %w", id, err)
	}
	if err := os.Mkdir(p.bundleDir(id), 0o700); err != nil {
		return fmt.Errorf("creating gvisor machine %s: %w", id, err)
	}
	b, err := json.Marshal(oci)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.bundleDir(id), "config.json"), b, 0o600); err != nil {
		return fmt.Errorf("creating gvisor machine %s: %w", id, err)
	}
	if err := p.saveMeta(m); err != nil {
		return fmt.Errorf("creating gvisor machine %s: %w", id, err)
	}
	return nil
}

// ociSpec builds the bundle's runtime spec: the shared hardening defaults
// of ocispec, adjusted for runsc.
func (p *Provider) ociSpec(id string, spec hypercore.MachineSpec, rootfs, nsPath string, m *meta) (*specs.Spec, error) {
	pids := spec.Resources.Pids
	if pids <= 0 {
		pids = p.opts.DefaultPids
	}
	oci, err := ocispec.Build(spec, ocispec.Options{
		RootFS:      rootfs,
		Hostname:    machinefs.Hostname(id, spec.Name),
		CgroupsPath: filepath.Join(p.opts.CgroupParent, m.RunscID),
		NetNSPath:   nsPath,
		// The workload's system calls go to the sentry, not the host;
		// runsc 20221219 ignores an OCI seccomp profile unless told
		// otherwise, and the sentry runs under its own filters.
		NoSeccomp:   true,
		DefaultPids: pids,
	})
	if err != nil {
		return nil, err
	}
	// Processes: the sentry enforces RLIMIT_NPROC (fork fails with EAGAIN,
	// as under the sandbox's pids cgroup). The host pids cgroup holds the
	// sentry, gofer and ptrace stubs too, and when it is hit the sentry
	// panics and the whole machine dies: it gets headroom and is only the
	// backstop. Under ptrace every guest task costs host stub threads,
	// one per sentry thread that ran it: a fork bomb held at 48 tasks
	// peaked at 171 host tasks here, so the backstop is hostPidsPerTask
	// times the limit plus headroom.
	oci.Process.Rlimits = append(oci.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NPROC", Hard: uint64(pids), Soft: uint64(pids)})
	host := hostPidsPerTask*pids + p.opts.PidsHeadroom
	oci.Linux.Resources.Pids = &specs.LinuxPids{Limit: &host}
	em, err := machinefs.EtcMounts(filepath.Join(p.machineDir(id), "rw"), oci.Hostname, ipOf(m), p.opts.DNS)
	if err != nil {
		return nil, err
	}
	oci.Mounts = append(oci.Mounts, em...)
	return oci, nil
}

// hostPidsPerTask: host tasks allowed per guest task (see ociSpec).
const hostPidsPerTask = 8

func ipOf(m *meta) string {
	if m.Net == nil {
		return ""
	}
	return m.Net.IP
}
