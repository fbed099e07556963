package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// unpacker applies layers, in order, to root, a private directory nobody
// else writes to until it is renamed into the store. Its rules:
//   - entry names must be relative and free of ".." components;
//   - every parent directory of an entry is resolved inside root, as if
//     root were "/" (absolute symlink targets restart at root, relative
//     ones continue from the link's directory); a symlink whose target
//     climbs above root is an escape and fails the layer;
//   - the last component is never followed: whatever is there (file,
//     symlink) is removed and replaced, except a directory replaced by a
//     directory, which is kept and gets the new mode;
//   - hardlinks must name a regular file or symlink already inside root;
//   - character and block devices and FIFOs are refused (the sandbox
//     provides /dev itself; an image that ships nodes is not one we run);
//   - more than max regular-file bytes in total fails with ErrResources.
//
// Symlinks themselves may point anywhere: they are stored, never followed
// here, and are resolved inside the machine's own mount namespace later.
// Files are chowned to the header's uid/gid when running as root; regular
// files and symlinks keep their mtime, directories do not.
type unpacker struct {
	root string
	max  int64 // 0 = unbounded
	size int64 // regular-file bytes written so far, all layers
	// onBytes, when set, is told of every chunk of file data written.
	onBytes func(n int64)
}

const (
	whPrefix   = ".wh."
	whOpaque   = ".wh..wh..opq"
	maxSymlink = 255 // like the kernel's MAXSYMLINKS, but per entry
)

var isRoot = os.Geteuid() == 0

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: unsafe layer: %s", hypercore.ErrInvalid, fmt.Sprintf(format, a...))
}

// clean validates a tar entry name and returns it relative to root ("" is
// the root itself).
func clean(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", invalid("entry %q is an absolute path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", invalid("entry %q escapes the root", name)
		}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", invalid("entry %q has a NUL byte", name)
	}
	rel := strings.TrimPrefix(path.Clean("/"+name), "/")
	return rel, nil
}

// resolveDir resolves the directory rel (relative to root) following
// symlinks inside root, creating missing directories, and returns the
// resolved path relative to root. Every component of the result is a real
// directory, so later syscalls on root/<result>/<name> follow nothing.
func (u *unpacker) resolveDir(rel string) (string, error) {
	var done []string
	todo := splitPath(rel)
	hops := 0
	for len(todo) > 0 {
		part := todo[0]
		todo = todo[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", invalid("%q resolves through a symlink above the root", rel)
			}
			done = done[:len(done)-1]
			continue
		}
		cur := filepath.Join(u.root, filepath.Join(done...), part)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return "", err
			}
		case err != nil:
			return "", err
		case fi.Mode()&os.ModeSymlink != 0:
			if hops++; hops > maxSymlink {
				return "", invalid("%q: too many levels of symlinks", rel)
			}
			target, err := os.Readlink(cur)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				done = nil
			}
			todo = append(splitPath(target), todo...)
			continue
		case !fi.IsDir():
			return "", invalid("%q: %q is not a directory", rel, path.Join(append(done, part)...))
		}
		done = append(done, part)
	}
	return path.Join(done...), nil
}

func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

// place validates name and returns its resolved relative and host paths.
// ok is false for the root itself.
func (u *unpacker) place(name string) (rel, host string, ok bool, err error) {
	rel, err = clean(name)
	if err != nil || rel == "" {
		return "", "", false, err
	}
	dir, err := u.resolveDir(path.Dir(rel))
	if err != nil {
		return "", "", false, err
	}
	rel = path.Join(dir, path.Base(rel))
	return rel, filepath.Join(u.root, rel), true, nil
}

// apply unpacks one layer's tar stream.
func (u *unpacker) apply(r io.Reader) error {
	tr := tar.NewReader(r)
	seen := map[string]bool{} // resolved paths this layer wrote, for opaque dirs
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: reading layer: %v", hypercore.ErrInvalid, err)
		}
		rel, target, ok, err := u.place(h.Name)
		if err != nil {
			return err
		}
		if !ok {
			continue // the root itself keeps the store's mode
		}
		base := path.Base(rel)
		switch {
		case base == whOpaque:
			if err := u.opaque(path.Dir(rel), seen); err != nil {
				return err
			}
			continue
		case strings.HasPrefix(base, whPrefix):
			victim := strings.TrimPrefix(base, whPrefix)
			if victim == "" || victim == "." || victim == ".." {
				return invalid("bad whiteout %q", h.Name)
			}
			if err := os.RemoveAll(filepath.Join(filepath.Dir(target), victim)); err != nil {
				return err
			}
			continue
		}
		for p := rel; p != "."; p = path.Dir(p) {
			seen[p] = true
		}
		if err := u.entry(tr, h, target); err != nil {
			return err
		}
	}
}

// opaque empties dir (resolved, relative) of everything earlier layers put
// there, keeping what this layer already wrote.
func (u *unpacker) opaque(dir string, seen map[string]bool) error {
	full := filepath.Join(u.root, dir)
	ents, err := os.ReadDir(full)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !seen[path.Join(dir, e.Name())] {
			if err := os.RemoveAll(filepath.Join(full, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (u *unpacker) entry(tr *tar.Reader, h *tar.Header, target string) error {
	mode := os.FileMode(h.Mode&0o777) | modeBits(h.Mode)
	if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && h.Typeflag == tar.TypeDir) {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := chown(target, h); err != nil {
			return err
		}
		return os.Chmod(target, mode) // after chown, which clears setgid
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		return u.file(tr, h, target, mode)
	case tar.TypeSymlink:
		if err := os.Symlink(h.Linkname, target); err != nil {
			return err
		}
		setTimes(target, h.ModTime)
		return chown(target, h)
	case tar.TypeLink:
		return u.hardlink(h, target) // shares the target's owner and mode
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return invalid("%q is a device node or fifo", h.Name)
	default:
		return nil // nothing to write (pax headers are consumed by tar.Reader)
	}
}

// chown gives target the header's owner when we are root (elsewhere, in
// tests, everything stays ours).
func chown(target string, h *tar.Header) error {
	if !isRoot {
		return nil
	}
	return os.Lchown(target, h.Uid, h.Gid)
}

func (u *unpacker) file(tr *tar.Reader, h *tar.Header, target string, mode os.FileMode) error {
	if h.Size < 0 {
		return invalid("%q has a negative size", h.Name)
	}
	if u.size += h.Size; u.max > 0 && u.size > u.max {
		return fmt.Errorf("%w: image unpacks to more than its %d-byte disk limit", hypercore.ErrResources, u.max)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	var w io.Writer = f
	if u.onBytes != nil {
		w = &countWriter{w: f, n: u.onBytes}
	}
	_, err = io.Copy(w, tr)
	if err == nil && isRoot {
		err = f.Chown(h.Uid, h.Gid)
	}
	if err == nil {
		err = f.Chmod(mode) // after chown, which clears setuid
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", h.Name, err)
	}
	setTimes(target, h.ModTime)
	return nil
}

func (u *unpacker) hardlink(h *tar.Header, target string) error {
	_, src, ok, err := u.place(h.Linkname)
	if err != nil || !ok {
		return invalid("hardlink %q -> %q escapes the root", h.Name, h.Linkname)
	}
	fi, err := os.Lstat(src)
	if err != nil || !(fi.Mode().IsRegular() || fi.Mode()&os.ModeSymlink != 0) {
		return invalid("hardlink %q -> %q: target is not a file in the image", h.Name, h.Linkname)
	}
	if src == target {
		return nil
	}
	return os.Link(src, target) // linkat(2) without AT_SYMLINK_FOLLOW
}

func setTimes(p string, t time.Time) {
	if t.IsZero() {
		return
	}
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW) // best effort
}

// modeBits keeps setuid/setgid/sticky, which os.FileMode spells apart.
func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&unix.S_ISUID != 0 {
		out |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		out |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		out |= os.ModeSticky
	}
	return out
}

type countWriter struct {
	w io.Writer
	n func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n(int64(n))
	return n, err
}
