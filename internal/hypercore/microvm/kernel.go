package microvm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// kernelPkg is the Debian metapackage whose dependency is the real cloud
// kernel package: small, with virtio drivers as modules and no initrd.
const kernelPkg = "linux-image-cloud-amd64"

// guestModules are loaded by the agent, in this order (dependencies
// first). ext4, cgroups and the 8250 serial console are built into
// Debian's cloud kernel; these are not.
var guestModules = []string{
	"virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio_console",
	"failover", "net_failover", "virtio_net",
}

// kernel is a guest kernel and the directory of its modules.
type kernel struct {
	Vmlinuz string
	Modules string // .../lib/modules/<version>
}

// findKernel returns the configured kernel, or the cached one, downloading
// and unpacking Debian's cloud kernel package into cacheDir when there is
// none (once per host: the download is serialised by a lock file).
func findKernel(ctx context.Context, o Options) (kernel, error) {
	if o.Kernel != "" {
		k := kernel{Vmlinuz: o.Kernel, Modules: o.Modules}
		if k.Modules == "" {
			ver := strings.TrimPrefix(filepath.Base(o.Kernel), "vmlinuz-")
			k.Modules = filepath.Join(filepath.Dir(o.Kernel), "..", "lib", "modules", ver)
		}
		return k, k.check()
	}
	if k, err := cachedKernel(o.CacheDir); err == nil {
		return k, nil
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return kernel{}, err
	}
	lock, err := os.OpenFile(filepath.Join(o.CacheDir, "kernel.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return kernel{}, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return kernel{}, err
	}
	if k, err := cachedKernel(o.CacheDir); err == nil {
		return k, nil // another process fetched it meanwhile
	}
	return downloadKernel(ctx, o.CacheDir)
}

func (k kernel) check() error {
	if _, err := os.Stat(k.Vmlinuz); err != nil {
		return fmt.Errorf("%w: guest kernel: %v", hypercore.ErrUnavailable, err)
	}
	for _, m := range guestModules {
		if _, err := k.module(m); err != nil {
			return err
		}
	}
	return nil
}

// module finds a module's .ko file (uncompressed, as Debian ships them).
func (k kernel) module(name string) (string, error) {
	var found string
	_ = filepath.WalkDir(filepath.Join(k.Modules, "kernel"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name+".ko" {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", fmt.Errorf("%w: guest kernel module %s not under %s", hypercore.ErrUnavailable, name, k.Modules)
	}
	return found, nil
}

func cachedKernel(cacheDir string) (kernel, error) {
	matches, _ := filepath.Glob(filepath.Join(cacheDir, "kernel", "*", "boot", "vmlinuz-*"))
	if len(matches) == 0 {
		return kernel{}, fmt.Errorf("%w: no cached guest kernel", hypercore.ErrNotFound)
	}
	slices.Sort(matches)
	v := matches[len(matches)-1]
	ver := strings.TrimPrefix(filepath.Base(v), "vmlinuz-")
	k := kernel{Vmlinuz: v, Modules: filepath.Join(filepath.Dir(v), "..", "lib", "modules", ver)}
	return k, k.check()
}

// downloadKernel resolves the metapackage to the real kernel package,
// downloads it with apt-get and unpacks it with dpkg -x.
func downloadKernel(ctx context.Context, cacheDir string) (kernel, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", kernelPkg).Output()
	if err != nil {
		return kernel{}, fmt.Errorf("%w: resolving %s (Debian/Ubuntu apt needed, or set VIMANA_MICROVM_KERNEL): %v", hypercore.ErrUnavailable, kernelPkg, err)
	}
	pkg := ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return kernel{}, fmt.Errorf("%w: %s has no linux-image dependency", hypercore.ErrUnavailable, kernelPkg)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".dl-")
	if err != nil {
		return kernel{}, err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return kernel{}, fmt.Errorf("%w: apt-get download %s: %v\n%s", hypercore.ErrUnavailable, pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return kernel{}, fmt.Errorf("%w: apt-get download %s left %d .deb files", hypercore.ErrUnavailable, pkg, len(debs))
	}
	x := filepath.Join(tmp, "x")
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", debs[0], x).CombinedOutput(); err != nil {
		return kernel{}, fmt.Errorf("%w: dpkg -x: %v\n%s", hypercore.ErrUnavailable, err, out)
	}
	dst := filepath.Join(cacheDir, "kernel", pkg)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return kernel{}, err
	}
	_ = os.RemoveAll(dst)
	if err := os.Rename(x, dst); err != nil {
		return kernel{}, err
	}
	return cachedKernel(cacheDir)
}
