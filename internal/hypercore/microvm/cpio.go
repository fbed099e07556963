package microvm

import (
	"fmt"
	"io"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as an
// initramfs (Documentation/driver-api/early-userspace/buffer-format.rst):
// a 110-byte ASCII header, the NUL-terminated name, padding to 4 bytes, the
// data, padding to 4 bytes, and a "TRAILER!!!" entry at the end.
type cpioWriter struct {
	w   io.Writer
	off int64
	ino uint32
	err error
}

// cpio mode bits.
const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioLink = 0o120000
	cpioChr  = 0o020000
)

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.off % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one header and name; size bytes of data must follow.
func (c *cpioWriter) entry(name string, mode uint32, size int64, rmajor, rminor uint32) {
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
}

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm uint32) { c.entry(name, cpioDir|perm, 0, 0, 0) }

// Char adds a character device node.
func (c *cpioWriter) Char(name string, perm, major, minor uint32) {
	c.entry(name, cpioChr|perm, 0, major, minor)
}

// Symlink adds a symbolic link.
func (c *cpioWriter) Symlink(name, target string) {
	c.entry(name, cpioLink|0o777, int64(len(target)), 0, 0)
	c.write([]byte(target))
	c.pad()
}

// File adds a regular file with size bytes read from r.
func (c *cpioWriter) File(name string, perm uint32, size int64, r io.Reader) {
	c.entry(name, cpioReg|perm, size, 0, 0)
	if c.err == nil {
		var n int64
		n, c.err = io.CopyN(c.w, r, size)
		c.off += n
	}
	c.pad()
}

// Close writes the trailer and returns the first error.
func (c *cpioWriter) Close() error {
	c.entry("TRAILER!!!", 0, 0, 0, 0)
	return c.err
}
