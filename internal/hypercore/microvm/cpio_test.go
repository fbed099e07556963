package microvm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCPIO has the system cpio tool read what cpioWriter writes.
func TestCPIO(t *testing.T) {
	var buf bytes.Buffer
	c := &cpioWriter{w: &buf}
	c.Dir("dev", 0o755)
	c.Char("dev/console", 0o600, 5, 1)
	c.Dir("bin", 0o755)
	c.File("bin/init", 0o755, 5, strings.NewReader("hello"))
	c.File("odd", 0o644, 3, strings.NewReader("abc"))
	c.Symlink("sbin", "bin")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d not 4-aligned", buf.Len())
	}
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("no cpio tool to cross-check with")
	}
	dir := t.TempDir()
	cmd := exec.Command("cpio", "-t", "-v")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	for _, want := range []string{"dev/console", "bin/init", "sbin -> bin", "odd"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio listing lacks %q:\n%s", want, out)
		}
	}
	cmd = exec.Command("cpio", "-i", "-d", "--no-absolute-filenames", "bin/init", "odd")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "bin/init")); string(b) != "hello" {
		t.Errorf("bin/init = %q", b)
	}
}

// TestVMSetupRebuildsInitramfs: a provider whose cached initramfs was
// removed (by another process's clean-up) builds it again.
func TestVMSetupRebuildsInitramfs(t *testing.T) {
	p := newTestProvider(t) // Probe ran vmSetup
	s, err := p.vmSetup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.initramfs); err != nil {
		t.Fatal(err)
	}
	s2, err := p.vmSetup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s2.initramfs); err != nil {
		t.Errorf("initramfs not rebuilt: %v", err)
	}
}
