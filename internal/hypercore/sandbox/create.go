package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostnet"
	"github.com/vistara-labs/vimana/internal/hypercore/machinefs"
	"github.com/vistara-labs/vimana/internal/hypercore/ocispec"
)

// Create implements hypercore.Provider. Every step is undone on failure:
// nothing half-created survives an error.
func (p *Provider) Create(ctx context.Context, id string, spec hypercore.MachineSpec) (err error) {
	if err := hypercore.ValidID(id); err != nil {
		return err
	}
	if len(spec.Process.Args) == 0 {
		return fmt.Errorf("creating sandbox %s: %w: no process args", id, hypercore.ErrInvalid)
	}
	if fi, serr := os.Stat(spec.RootFS); serr != nil || !fi.IsDir() {
		return fmt.Errorf("creating sandbox %s: %w: rootfs %q is not a directory", id, hypercore.ErrInvalid, spec.RootFS)
	}
	dir := p.machineDir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating sandbox %s: %w", id, hypercore.ErrAlreadyExists)
		}
		return fmt.Errorf("creating sandbox %s: %w", id, err)
	}
	m := &meta{ID: id, Spec: spec, CreatedAt: time.Now().UTC()}
	defer func() {
		if err != nil {
			p.teardown(id, m)
		}
	}()
	merged, err := machinefs.Mount(dir, spec.RootFS, spec.Resources.DiskBytes)
	if err != nil {
		return fmt.Errorf("creating sandbox %s: %w", id, err)
	}
	if needsNetwork(spec) {
		ns, err := p.net.Reserve(id)
		m.Net = ns
		if err != nil {
			return fmt.Errorf("creating sandbox %s: network: %w", id, err)
		}
		ports, err := p.net.Publish(id, ns, spec.Network)
		m.Ports = ports
		if err != nil {
			return fmt.Errorf("creating sandbox %s: %w", id, err)
		}
	}
	oci, err := ocispec.Build(spec, ocispec.Options{
		RootFS:      merged,
		Hostname:    machinefs.Hostname(id, spec.Name),
		CgroupsPath: filepath.Join(p.opts.CgroupParent, id),
		NoSeccomp:   p.opts.NoSeccomp,
		DefaultPids: p.opts.DefaultPids,
	})
	if err != nil {
		return fmt.Errorf("creating sandbox %s: %w", id, err)
	}
	// Validate the conversion now; libcontainer persists a container only
	// once it starts, so Start converts again from the saved spec.
	if _, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: oci, NoNewKeyring: true}); err != nil {
		return fmt.Errorf("creating sandbox %s: %w: %v", id, hypercore.ErrInvalid, err)
	}
	em, err := machinefs.EtcMounts(filepath.Join(dir, "rw"), oci.Hostname, ipOf(m.Net), p.opts.DNS)
	if err != nil {
		return fmt.Errorf("creating sandbox %s: %w", id, err)
	}
	oci.Mounts = append(oci.Mounts, em...)
	m.OCI = oci
	if err := p.saveMeta(m); err != nil {
		return fmt.Errorf("creating sandbox %s: %w", id, err)
	}
	return nil
}

func ipOf(ns *hostnet.State) string {
	if ns == nil {
		return ""
	}
	return ns.IP
}

// needsNetwork: a machine that publishes nothing and may not egress needs
// no veth at all; its fresh network namespace has loopback only.
func needsNetwork(s hypercore.MachineSpec) bool {
	return s.Network.Egress || len(s.Network.Ports) > 0
}
