package agent

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore/microvm/wire"
	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal's master and slave of the given
// size, from the workload root's devpts instance.
func openPTY(size wire.Resize) (*os.File, *os.File, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	master := os.NewFile(uintptr(mfd), "ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if size.Rows == 0 || size.Cols == 0 {
		size = wire.Resize{Rows: 24, Cols: 80}
	}
	_ = unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: size.Rows, Col: size.Cols})
	return master, slave, nil
}

// startTTYExec runs an exec session on a pseudo-terminal: stdout and
// stderr are the terminal's output, stdin its input (EOF is sent as ^D),
// and resizes reach the process as SIGWINCH.
func (a *agent) startTTYExec(stream uint32, e wire.Exec, env []string, dir, user string) {
	master, slave, err := openPTY(e.Size)
	if err != nil {
		a.fail(stream, err)
		return
	}
	hasTerm := false
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "TERM=" {
			hasTerm = true
		}
	}
	if !hasTerm {
		env = append(env, "TERM=xterm")
	}
	pid, ch, err := a.spawn(e.Args, env, dir, user, []uintptr{slave.Fd(), slave.Fd(), slave.Fd()}, true)
	slave.Close()
	if err != nil {
		master.Close()
		a.fail(stream, err)
		return
	}
	mfd := int(master.Fd())
	s := &session{stdin: make(chan []byte, 16), done: make(chan struct{}), resize: func(r wire.Resize) {
		if r.Rows > 0 && r.Cols > 0 {
			_ = unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: r.Rows, Col: r.Cols})
		}
	}}
	a.mu.Lock()
	a.sessions[stream] = s
	a.mu.Unlock()
	go func() {
		for {
			select {
			case b := <-s.stdin:
				if b == nil {
					b = []byte{4} // ^D: end of input for a terminal reader
				}
				if _, err := master.Write(b); err != nil {
					return
				}
			case <-s.done:
				return
			}
		}
	}()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 32<<10)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				_ = a.w.WriteData(wire.TStdout, stream, buf[:n])
			}
			if err != nil { // EIO once every slave end is closed
				return
			}
		}
	}()
	go func() {
		var ws unix.WaitStatus
		select {
		case ws = <-ch:
		case <-s.done:
			_ = unix.Kill(pid, unix.SIGKILL)
			ws = <-ch
		}
		// A background child may hold the terminal open: give the output
		// a moment to drain, then end the session anyway.
		select {
		case <-drained:
		case <-time.After(500 * time.Millisecond):
		}
		master.Close()
		a.mu.Lock()
		delete(a.sessions, stream)
		a.mu.Unlock()
		s.once.Do(func() { close(s.done) })
		a.reply(wire.TExitCode, stream, wire.ExitCode{Code: exitOf(ws).Code})
	}()
}
