package gvisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Network namespaces. runsc with --network=sandbox joins the namespace
// named in the OCI spec and copies its interfaces (our veth, with its
// address and routes) into gVisor's netstack. The provider makes that
// namespace itself, bind-mounted on a file in the machine dir, so the veth
// is in place before runsc starts and outlives nothing: Delete unmounts it.

// newNetNS creates a network namespace held by a bind mount on path.
func newNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: this thread moves to the new namespace, and the
		// runtime retires a thread whose goroutine exits while locked.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("pinning netns: %w", err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// removeNetNS unmounts and removes a namespace made by newNetNS; a missing
// one is fine.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// startMasked starts cmd (which runs `runsc run --network=sandbox`) so
// that runsc's "is this the root network namespace?" check passes.
//
// runsc 20221219 decides it by whether /proc/sys/net/core/rmem_default
// exists once it has joined the machine's namespace (runsc/sandbox/
// network.go, isRootNS); the file used to exist only in the initial
// namespace, but on current kernels (6.18 here) every namespace has it,
// so every start fails with "cannot run with network enabled in root
// network namespace". cmd is therefore started from a thread with a
// private mount namespace in which /proc/sys/net/core, as seen from the
// machine's network namespace, is an empty read-only tmpfs. /proc/sys/net
// resolves per network namespace, so the mount must be made from inside
// the machine's namespace; the thread then returns to the host namespace
// (runsc's control socket is an abstract socket of the host namespace)
// and starts cmd, which inherits both. Nothing else runsc reads is under
// that directory, and the mount namespace dies with runsc.
func startMasked(cmd *exec.Cmd, nsPath string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see newNetNS
		errc <- func() error {
			host, err := netns.Get()
			if err != nil {
				return err
			}
			defer host.Close()
			target, err := netns.GetFromPath(nsPath)
			if err != nil {
				return err
			}
			defer target.Close()
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare mount ns: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("private mounts: %w", err)
			}
			if err := netns.Set(target); err != nil {
				return err
			}
			err = unix.Mount("vimana-gvisor", "/proc/sys/net/core", "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=0555")
			if serr := netns.Set(host); serr != nil {
				return serr
			}
			if err != nil {
				return fmt.Errorf("masking /proc/sys/net/core: %w", err)
			}
			return cmd.Start()
		}()
	}()
	return <-errc
}
