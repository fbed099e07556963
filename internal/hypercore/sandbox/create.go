package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostnet"
	"github.com/vistara-labs/vimana/internal/hypercore/ocispec"
	"golang.org/x/sys/unix"
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
	merged, err := mountRootFS(dir, spec.RootFS, spec.Resources.DiskBytes)
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
		Hostname:    hostnameFor(id, spec.Name),
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
	em, err := etcMounts(filepath.Join(dir, "rw"), oci.Hostname, ipOf(m.Net), p.opts.DNS)
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

// hostnameFor makes a DNS label of the spacecore's name, falling back to
// the id: an empty hostname would leave the host's name visible inside.
func hostnameFor(id, name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r == '_' || r == '.' || r == ' ':
			b.WriteByte('-')
		}
	}
	h := strings.Trim(b.String(), "-")
	if len(h) > 63 {
		h = strings.Trim(h[:63], "-")
	}
	if h == "" {
		return id
	}
	return h
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

// mountRootFS mounts a tmpfs of diskBytes (the writable layer's bound) and
// an overlay of the shared image rootfs under it, returning the merged dir.
func mountRootFS(dir, lower string, diskBytes int64) (string, error) {
	rw := filepath.Join(dir, "rw")
	merged := filepath.Join(dir, "rootfs")
	for _, d := range []string{rw, merged} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return "", err
		}
	}
	if diskBytes <= 0 {
		diskBytes = 1 << 30
	}
	if err := unix.Mount("tmpfs", rw, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", diskBytes)); err != nil {
		return "", fmt.Errorf("mounting writable layer: %w", err)
	}
	for _, d := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(rw, d), 0o755); err != nil {
			return "", err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, filepath.Join(rw, "upper"), filepath.Join(rw, "work"))
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mounting overlay rootfs: %w", err)
	}
	return merged, nil
}

// unmountRootFS undoes mountRootFS; missing mounts are fine.
func unmountRootFS(dir string) error {
	var errs []error
	for _, d := range []string{filepath.Join(dir, "rootfs"), filepath.Join(dir, "rw")} {
		if err := unix.Unmount(d, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
