package microvm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Create implements hypercore.Provider: it checks the spec, reserves host
// ports and writes the machine's rootfs disk (an ext4 image of the image
// rootfs with the disk limit as free space). Nothing runs until Start.
func (p *Provider) Create(ctx context.Context, id string, spec hypercore.MachineSpec) (err error) {
	if err := hypercore.ValidID(id); err != nil {
		return err
	}
	if len(spec.Process.Args) == 0 {
		return fmt.Errorf("%w: creating %s: no process args", hypercore.ErrInvalid, id)
	}
	if fi, err := os.Stat(spec.RootFS); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: creating %s: rootfs %q is not a directory", hypercore.ErrInvalid, id, spec.RootFS)
	}
	if len(spec.Volumes) > 0 {
		return fmt.Errorf("%w: creating %s: the microvm provider does not mount host volumes yet", hypercore.ErrInvalid, id)
	}
	if spec.Network.Egress {
		// QEMU's user networking makes outbound connections from the host
		// itself: 10.0.2.2 is the host's loopback, and the node API and
		// every host service would be reachable. Until the guest sits on
		// the vimana bridge behind the sandbox's firewall (a tap device),
		// egress is refused rather than offered unsafely.
		return fmt.Errorf("%w: creating %s: the microvm provider does not offer egress yet (QEMU user networking would expose the host's services); use isolation sandbox or gvisor, or egress = false", hypercore.ErrInvalid, id)
	}
	dir := p.machineDir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("machine %s: %w", id, hypercore.ErrAlreadyExists)
		}
		return err
	}
	if len(p.path(id, fileCtl)) > 100 {
		os.Remove(dir)
		return fmt.Errorf("%w: state dir %s is too deep for a unix socket path", hypercore.ErrInvalid, p.dir)
	}
	m := &meta{ID: id, Spec: spec, CreatedAt: time.Now().UTC()}
	defer func() {
		if err != nil {
			for _, pt := range m.Ports {
				releasePort(id, pt.Protocol, pt.HostPort)
			}
			os.RemoveAll(dir)
		}
	}()
	for _, pt := range spec.Network.Ports {
		if pt.Protocol == "" {
			pt.Protocol = "tcp"
		}
		if pt.Protocol != "tcp" && pt.Protocol != "udp" {
			return fmt.Errorf("%w: port %d: protocol %q", hypercore.ErrInvalid, pt.Port, pt.Protocol)
		}
		hp, err := reservePort(id, pt)
		if err != nil {
			return fmt.Errorf("creating %s: %w", id, err)
		}
		pt.HostPort = hp
		m.Ports = append(m.Ports, pt)
	}
	disk := spec.Resources.DiskBytes
	if disk <= 0 {
		disk = p.opts.DefaultDisk
	}
	if err := makeRootfs(ctx, spec.RootFS, p.path(id, fileRootfs), disk); err != nil {
		return fmt.Errorf("creating %s: %w", id, err)
	}
	return p.saveMeta(m)
}

// makeRootfs writes an ext4 image holding rootfs with about free bytes to
// spare. mkfs.ext4 -d copies the tree without mounting anything; the image
// is sparse, so only the used blocks take host disk.
func makeRootfs(ctx context.Context, rootfs, img string, free int64) error {
	var used int64
	_ = filepath.WalkDir(rootfs, func(_ string, d fs.DirEntry, err error) error {
		if err == nil {
			if fi, err := d.Info(); err == nil {
				used += fi.Size() + 4096
			}
		}
		return nil
	})
	size := used + used/4 + free + 16<<20
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	f.Close()
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-E", "root_owner=0:0",
		"-d", rootfs, "-L", "rootfs", img, strconv.FormatInt(size>>10, 10)+"k")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	return nil
}
