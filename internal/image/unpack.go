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

	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// unpacker applies layers, in order, to root. It refuses anything that
// could write outside root or create devices:
//   - entry names with ".." components (or that clean to the root itself);
//   - writing through a symlink: every parent of an entry must be a real
//     directory inside root (checked with lstat, component by component);
//   - hardlinks whose target is not a regular file inside root;
//   - character and block devices and FIFOs;
//   - more than max unpacked bytes (ErrResources).
//
// Symlinks themselves may point anywhere: they are stored, never followed
// here, and are resolved inside the machine's own mount namespace later.
type unpacker struct {
	root string
	max  int64
	size int64
}

const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: unsafe layer: %s", hypercore.ErrInvalid, fmt.Sprintf(format, a...))
}

// clean validates a tar entry name and returns it relative to root.
func clean(name string) (string, error) {
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", invalid("entry %q escapes the root", name)
		}
	}
	rel := strings.TrimPrefix(path.Clean("/"+name), "/")
	if rel == "" {
		return "", nil
	}
	return rel, nil
}

// parentOK checks that every directory above rel is a real directory (not
// a symlink), creating missing ones.
func (u *unpacker) parentOK(rel string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	cur := u.root
	for _, part := range strings.Split(dir, "/") {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case fi.Mode()&os.ModeSymlink != 0:
			return invalid("%q is written through the symlink %q", rel, strings.TrimPrefix(cur, u.root))
		case !fi.IsDir():
			return invalid("%q has a non-directory parent", rel)
		}
	}
	return nil
}

func (u *unpacker) apply(r io.Reader) error {
	tr := tar.NewReader(r)
	seen := map[string]bool{} // entries of this layer, for opaque dirs
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: reading layer: %v", hypercore.ErrInvalid, err)
		}
		rel, err := clean(h.Name)
		if err != nil {
			return err
		}
		if rel == "" {
			continue // the root itself
		}
		if err := u.parentOK(rel); err != nil {
			return err
		}
		base := path.Base(rel)
		target := filepath.Join(u.root, rel)
		if base == whOpaque {
			if err := u.opaque(path.Dir(rel), seen); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(base, whPrefix) {
			victim := filepath.Join(filepath.Dir(target), strings.TrimPrefix(base, whPrefix))
			if err := os.RemoveAll(victim); err != nil {
				return err
			}
			continue
		}
		seen[rel] = true
		if err := u.entry(tr, h, rel, target); err != nil {
			return err
		}
	}
}

// opaque empties dir of everything earlier layers put there.
func (u *unpacker) opaque(dir string, seen map[string]bool) error {
	full := filepath.Join(u.root, dir)
	ents, err := os.ReadDir(full)
	if err != nil {
		return nil
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

func (u *unpacker) entry(tr *tar.Reader, h *tar.Header, rel, target string) error {
	mode := os.FileMode(h.Mode & 0o7777)
	// A later layer may replace anything but a directory with anything.
	if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && h.Typeflag == tar.TypeDir) {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, mode); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := os.Chmod(target, mode|modeBits(mode)); err != nil {
			return err
		}
	case tar.TypeReg, tar.TypeRegA:
		u.size += h.Size
		if u.max > 0 && u.size > u.max {
			return fmt.Errorf("%w: image unpacks to more than the %d-byte disk limit", hypercore.ErrResources, u.max)
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := os.Chmod(target, mode|modeBits(mode)); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(h.Linkname, target); err != nil {
			return err
		}
	case tar.TypeLink:
		lrel, err := clean(h.Linkname)
		if err != nil || lrel == "" {
			return invalid("hardlink %q -> %q escapes the root", rel, h.Linkname)
		}
		if err := u.parentOK(lrel); err != nil {
			return err
		}
		src := filepath.Join(u.root, lrel)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			return invalid("hardlink %q -> %q: target is not a regular file in the image", rel, h.Linkname)
		}
		if err := os.Link(src, target); err != nil {
			return err
		}
		return nil // shares the target's owner and mode
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return invalid("%q is a device node or fifo", rel)
	default:
		return nil // pax headers and the like carry nothing to write
	}
	return os.Lchown(target, h.Uid, h.Gid)
}

// modeBits keeps setuid/setgid/sticky, which os.FileMode spells apart.
func modeBits(m os.FileMode) os.FileMode {
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
