// Package agent is the microvm guest's init: the vimana binary re-executed
// as PID 1 inside the VM (microvm.Reexec calls Main). It loads the virtio
// modules, mounts the machine's ext4 rootfs and chroots into it, configures
// the network QEMU's user networking expects, puts the workload in a
// cgroup v2 group holding its memory, pids and cpu limits, and serves the
// host over the wire protocol on a virtio-serial port: run, signal, exec,
// stats. The workload's stdout and stderr are a second port that QEMU
// writes to the host's log file; the exit record goes to a third. When the
// workload exits, the agent kills what is left, writes the exit record and
// powers the VM off.
//
// It imports only the wire package and system libraries: it runs without
// the rest of vimana's world (no config, no network services).
package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Port names the host gives the virtio-serial ports.
const (
	PortCtl  = "vimana.ctl"
	PortLog  = "vimana.log"
	PortExit = "vimana.exit"
)

// EnvMarker is set on the kernel command line ("vimana_agent=1" becomes an
// environment variable of init) so a PID 1 that is not the agent never
// turns into one.
const EnvMarker = "vimana_agent"

// newRoot is where the workload's rootfs is mounted before chroot.
const newRoot = "/mnt"

// Main runs the agent and never returns: on a fatal error it reports on the
// console and powers off.
func Main() {
	err := run()
	logf("fatal: %v", err)
	poweroff()
}

var console *os.File

func logf(format string, args ...any) {
	if console != nil {
		fmt.Fprintf(console, "vimana-agent: "+format+"\n", args...)
	}
}

func poweroff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	for {
		time.Sleep(time.Hour)
	}
}

func run() error {
	console, _ = os.OpenFile("/dev/console", os.O_WRONLY, 0)
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	if err := loadModules("/modules"); err != nil {
		return err
	}
	ports, err := findPorts(10 * time.Second)
	if err != nil {
		return err
	}
	if err := waitFor("/dev/vda", 10*time.Second); err != nil {
		return err
	}
	if err := unix.Mount("/dev/vda", newRoot, "ext4", 0, ""); err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	if err := setupRoot(newRoot); err != nil {
		return err
	}
	if err := unix.Chroot(newRoot); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	_ = os.Chdir("/")
	if err := setupCgroup(); err != nil {
		return err
	}
	if err := setupNetwork(); err != nil {
		logf("network: %v", err) // the workload may still run without it
	}
	a := newAgent(ports)
	return a.serve()
}

// loadModules inserts the .ko files in dir in the order the host listed
// them in dir/order.
func loadModules(dir string) error {
	order, err := os.ReadFile(filepath.Join(dir, "order"))
	if err != nil {
		return err
	}
	for _, name := range strings.Fields(string(order)) {
		b, err := os.ReadFile(filepath.Join(dir, name+".ko"))
		if err != nil {
			return err
		}
		if err := unix.InitModule(b, ""); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("loading module %s: %w", name, err)
		}
	}
	return nil
}

// findPorts waits for the named virtio-serial ports and returns their
// device paths by name.
func findPorts(timeout time.Duration) (map[string]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		ports := map[string]string{}
		ents, _ := os.ReadDir("/sys/class/virtio-ports")
		for _, e := range ents {
			name, err := os.ReadFile(filepath.Join("/sys/class/virtio-ports", e.Name(), "name"))
			if err == nil {
				if _, err := os.Stat("/dev/" + e.Name()); err == nil {
					ports[strings.TrimSpace(string(name))] = "/dev/" + e.Name()
				}
			}
		}
		if ports[PortCtl] != "" && ports[PortLog] != "" && ports[PortExit] != "" {
			return ports, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("virtio-serial ports did not appear: have %v", ports)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFor(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setupRoot mounts the pseudo filesystems inside the workload's root.
func setupRoot(root string) error {
	for _, m := range []struct {
		src, dst, fs string
		flags        uintptr
		data         string
	}{
		{"proc", "proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "dev", "devtmpfs", unix.MS_NOSUID, ""},
		{"devpts", "dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"},
		{"shm", "dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"cgroup2", "sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	} {
		dst := filepath.Join(root, m.dst)
		_ = os.MkdirAll(dst, 0o755)
		if err := unix.Mount(m.src, dst, m.fs, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s: %w", dst, err)
		}
	}
	_ = os.MkdirAll(filepath.Join(root, "tmp"), 0o1777)
	// devtmpfs has device nodes only; these links are what programs expect.
	for name, target := range map[string]string{
		"dev/fd": "/proc/self/fd", "dev/stdin": "/proc/self/fd/0", "dev/stdout": "/proc/self/fd/1",
		"dev/stderr": "/proc/self/fd/2", "dev/core": "/proc/kcore",
	} {
		_ = os.Symlink(target, filepath.Join(root, name))
	}
	_ = os.Remove(filepath.Join(root, "dev/ptmx"))
	_ = os.Symlink("pts/ptmx", filepath.Join(root, "dev/ptmx"))
	return nil
}
