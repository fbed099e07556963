package sandbox

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// ttyExec wires an exec'd process to a pseudo-terminal allocated inside
// the machine: libcontainer's init opens /dev/ptmx in the machine's devpts
// and sends the master back over ConsoleSocket.
type ttyExec struct {
	parent, child *os.File
	master        *os.File
	out           chan struct{} // closed when the output copy ends
}

func newTTYExec(proc *libcontainer.Process, size hypercore.WindowSize) (*ttyExec, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	parent, child := os.NewFile(uintptr(fds[0]), "console-parent"), os.NewFile(uintptr(fds[1]), "console-child")
	proc.ConsoleSocket = child
	proc.ConsoleWidth, proc.ConsoleHeight = 80, 24
	if size.Rows > 0 && size.Cols > 0 {
		proc.ConsoleWidth, proc.ConsoleHeight = size.Cols, size.Rows
	}
	return &ttyExec{parent: parent, child: child}, nil
}

// attach receives the master and starts copying stdin into it and its
// output to stdout.
func (t *ttyExec) attach(stdin io.Reader, stdout io.Writer) error {
	t.child.Close() // the process has its copy
	master, err := recvFile(t.parent)
	if err != nil {
		return err
	}
	t.master = master
	t.out = make(chan struct{})
	go func() {
		defer close(t.out)
		_, _ = io.Copy(stdout, master) // ends with EIO once the last slave fd closes
	}()
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }()
	}
	return nil
}

// resize applies terminal size changes until done is closed; the kernel
// sends SIGWINCH to the terminal's foreground process group.
func (t *ttyExec) resize(sizes <-chan hypercore.WindowSize, done <-chan struct{}) {
	for {
		select {
		case sz := <-sizes:
			if sz.Rows > 0 && sz.Cols > 0 {
				_ = unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Rows, Col: sz.Cols})
			}
		case <-done:
			return
		}
	}
}

// drain waits for the output the process left in the terminal, but not
// forever: a background child that inherited the terminal keeps it open.
func (t *ttyExec) drain() {
	if t.out == nil {
		return
	}
	select {
	case <-t.out:
	case <-time.After(2 * time.Second):
	}
}

func (t *ttyExec) close() {
	t.parent.Close()
	t.child.Close()
	if t.master != nil {
		t.master.Close()
	}
}

// recvFile receives one file descriptor sent with SCM_RIGHTS (how
// libcontainer's init sends the terminal master).
func recvFile(sock *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	conn, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	var n, oobn int
	var rerr error
	if err := conn.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), name, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	}); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: want one control message, got %d (%v)", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("console socket: want one fd, got %d (%v)", len(fds), err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
