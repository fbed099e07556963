package microvm

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The initramfs holds the agent as /init (this very binary: see Reexec),
// the shared libraries it needs when it is dynamically linked, and the
// kernel modules it loads. It is the same for every machine, built once per
// (binary, kernel) pair into the cache directory; the workload's rootfs is
// a separate ext4 disk per machine.

// buildInitramfs writes the initramfs for exe and k into cacheDir unless a
// current one is there, and returns its path.
func buildInitramfs(cacheDir, exe string, k kernel) (string, error) {
	key, err := initramfsKey(exe, k)
	if err != nil {
		return "", err
	}
	path := filepath.Join(cacheDir, "initramfs-"+key+".cpio")
	if _, err := os.Stat(path); err == nil {
		now := time.Now()
		_ = os.Chtimes(path, now, now) // in use: keep it from the clean-up below
		return path, nil
	}
	libs, err := sharedLibs(exe)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(cacheDir, ".initramfs-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	c := &cpioWriter{w: bw}
	for _, d := range []string{"dev", "proc", "sys", "mnt", "lib", "modules", "tmp"} {
		c.Dir(d, 0o755)
	}
	c.Char("dev/console", 0o600, 5, 1)
	c.Char("dev/null", 0o666, 1, 3)
	addFile := func(name, src string) error {
		sf, err := os.Open(src)
		if err != nil {
			return err
		}
		defer sf.Close()
		fi, err := sf.Stat()
		if err != nil {
			return err
		}
		c.File(name, 0o755, fi.Size(), sf)
		return nil
	}
	if err := addFile("init", exe); err != nil {
		return "", err
	}
	dirs := map[string]bool{"lib": true}
	for _, lib := range libs {
		name := strings.TrimPrefix(lib, "/")
		// Parents first: cpio needs directories before their files.
		var parents []string
		for d := filepath.Dir(name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			dirs[d] = true
			c.Dir(d, 0o755)
		}
		if err := addFile(name, lib); err != nil {
			return "", err
		}
	}
	for _, m := range guestModules {
		p, err := k.module(m)
		if err != nil {
			return "", err
		}
		if err := addFile("modules/"+m+".ko", p); err != nil {
			return "", err
		}
	}
	order := strings.Join(guestModules, "\n") + "\n"
	c.File("modules/order", 0o644, int64(len(order)), strings.NewReader(order))
	if err := c.Close(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", err
	}
	// Other initramfs files belong to other binaries (older versions,
	// test binaries, 3-60 MiB each). Every Start touches its own, and a
	// provider rebuilds one that has gone, so an hour unused is stale.
	old, _ := filepath.Glob(filepath.Join(cacheDir, "initramfs-*.cpio"))
	for _, o := range old {
		if fi, err := os.Stat(o); err == nil && o != path && time.Since(fi.ModTime()) > time.Hour {
			_ = os.Remove(o)
		}
	}
	return path, nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

func initramfsKey(exe string, k kernel) (string, error) {
	f, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	fmt.Fprintf(h, "\x00%s\x00%s", k.Vmlinuz, k.Modules)
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// sharedLibs lists the files the dynamic loader needs for exe (the loader
// itself included), or nothing for a static binary. vimana links libseccomp
// with cgo, so the agent usually is dynamic.
func sharedLibs(exe string) ([]string, error) {
	out, err := exec.Command("ldd", exe).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") || strings.Contains(string(out), "statically linked") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", exe, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}
