// Package machinefs owns a machine's filesystem on the host, shared by the
// namespace-based providers (sandbox, gvisor): a writable layer on a tmpfs
// bounded by the disk limit, an overlay of the shared read-only image rootfs
// under it, and the /etc/hosts, /etc/hostname and /etc/resolv.conf files
// bind-mounted into the machine. It imports only the OCI spec types.
package machinefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Hostname makes a DNS label of the spacecore's name, falling back to
// the id: an empty hostname would leave the host's name visible inside.
func Hostname(id, name string) string {
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

// Mount mounts a tmpfs of diskBytes (the writable layer's bound) and
// an overlay of the shared image rootfs under it, returning the merged dir: <dir>/rw
// (the tmpfs, holding upper/ and work/) and <dir>/rootfs (the overlay).
func Mount(dir, lower string, diskBytes int64) (string, error) {
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

// Unmount undoes Mount; missing mounts are fine.
func Unmount(dir string) error {
	var errs []error
	for _, d := range []string{filepath.Join(dir, "rootfs"), filepath.Join(dir, "rw")} {
		if err := unix.Unmount(d, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
