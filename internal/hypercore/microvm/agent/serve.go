package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore/microvm/wire"
	"golang.org/x/sys/unix"
)

type agent struct {
	ctl     *os.File
	w       *wire.Writer
	logPort *os.File
	exitP   *os.File

	mu       sync.Mutex
	waiters  map[int]chan unix.WaitStatus // by pid, filled by the reaper
	early    map[int]unix.WaitStatus      // reaped before registered
	run      *wire.Run
	pid      int                 // the workload, 0 before Run
	sessions map[uint32]*session // exec sessions of the current host connection
}

// openPort opens a virtio-serial port in blocking mode: os.OpenFile would
// make it non-blocking for the runtime poller, and the port's read then
// reports "host not connected" and "no data yet" alike.
func openPort(path string, flags int) (*os.File, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

func newAgent(ports map[string]string) *agent {
	a := &agent{waiters: map[int]chan unix.WaitStatus{}, early: map[int]unix.WaitStatus{}, sessions: map[uint32]*session{}}
	var err error
	if a.ctl, err = openPort(ports[PortCtl], unix.O_RDWR); err != nil {
		logf("%v", err)
	}
	if a.logPort, err = openPort(ports[PortLog], unix.O_WRONLY); err != nil {
		logf("%v", err)
	}
	if a.exitP, err = openPort(ports[PortExit], unix.O_WRONLY); err != nil {
		logf("%v", err)
	}
	a.w = wire.NewWriter(a.ctl)
	return a
}

func (a *agent) serve() error {
	if a.ctl == nil || a.logPort == nil || a.exitP == nil {
		return errors.New("virtio-serial ports missing")
	}
	go a.reap()
	for {
		f, err := wire.Read(a.ctl)
		if err != nil {
			// EOF: the host is not connected (or went away). Sessions
			// belong to a connection; a reconnecting host starts anew.
			a.endSessions()
			if errors.Is(err, wire.ErrFrame) {
				logf("dropping connection state: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		a.handle(f)
	}
}

func (a *agent) reply(t wire.Type, stream uint32, v any) {
	if err := a.w.WriteJSON(t, stream, v); err != nil {
		logf("reply: %v", err)
	}
}

func (a *agent) fail(stream uint32, err error) {
	a.reply(wire.TError, stream, wire.Error{Message: err.Error()})
}

func (a *agent) handle(f wire.Frame) {
	switch f.Type {
	case wire.THello:
		a.reply(wire.TReady, f.Stream, struct{}{})
	case wire.TRun:
		var r wire.Run
		if err := json.Unmarshal(f.Payload, &r); err != nil {
			a.fail(f.Stream, err)
			return
		}
		a.startWorkload(f.Stream, r)
	case wire.TSignal:
		var s wire.Signal
		if err := json.Unmarshal(f.Payload, &s); err != nil {
			a.fail(f.Stream, err)
			return
		}
		a.mu.Lock()
		pid := a.pid
		a.mu.Unlock()
		if pid > 0 {
			_ = unix.Kill(pid, syscall.Signal(s.Signal))
		}
		a.reply(wire.TExitCode, f.Stream, wire.ExitCode{})
	case wire.TStats:
		a.reply(wire.TStatsReply, f.Stream, sample())
	case wire.TExec:
		var e wire.Exec
		if err := json.Unmarshal(f.Payload, &e); err != nil {
			a.fail(f.Stream, err)
			return
		}
		a.startExec(f.Stream, e)
	case wire.TStdin, wire.TStdinEOF, wire.TResize:
		a.mu.Lock()
		s := a.sessions[f.Stream]
		a.mu.Unlock()
		if s != nil {
			s.input(f)
		}
	}
}

// reap collects every child (PID 1 inherits orphans too) and hands the
// status to whoever registered the pid.
func (a *agent) reap() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, unix.SIGCHLD)
	for {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			a.mu.Lock()
			if w, ok := a.waiters[pid]; ok {
				delete(a.waiters, pid)
				w <- ws
			} else {
				a.early[pid] = ws
			}
			a.mu.Unlock()
		}
		<-ch
	}
}

// spawn starts a process in the workload cgroup and registers for its exit
// under the same lock the reaper takes, so no exit is missed.
func (a *agent) spawn(args, env []string, dir, user string, files []uintptr, ctty bool) (int, chan unix.WaitStatus, error) {
	path, err := lookPath(args[0], env)
	if err != nil {
		return 0, nil, err
	}
	cred, err := credential(user)
	if err != nil {
		return 0, nil, err
	}
	cg, err := unix.Open(cgroupDir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, nil, err
	}
	defer unix.Close(cg)
	if dir == "" {
		dir = "/"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{
		Dir: dir, Env: env, Files: files,
		Sys: &syscall.SysProcAttr{Setsid: true, Setctty: ctty, Ctty: 0, Credential: cred, UseCgroupFD: true, CgroupFD: cg},
	})
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan unix.WaitStatus, 1)
	if ws, ok := a.early[pid]; ok {
		delete(a.early, pid)
		ch <- ws
	} else {
		a.waiters[pid] = ch
	}
	return pid, ch, nil
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath resolves name with the workload's PATH (not the agent's).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return name, nil
	}
	path := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, d := range strings.Split(path, ":") {
		p := d + "/" + name
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", name)
}

// credential parses "uid[:gid]".
func credential(user string) (*syscall.Credential, error) {
	if user == "" {
		return nil, nil
	}
	u, g, _ := strings.Cut(user, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: want uid[:gid]", user)
	}
	gid := uid
	if g != "" {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return nil, fmt.Errorf("user %q: want uid[:gid]", user)
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func exitOf(ws unix.WaitStatus) wire.Exit {
	if ws.Signaled() {
		return wire.Exit{Code: 128 + int(ws.Signal()), Signal: int(ws.Signal())}
	}
	return wire.Exit{Code: ws.ExitStatus()}
}

func (a *agent) startWorkload(stream uint32, r wire.Run) {
	a.mu.Lock()
	started := a.run != nil
	if !started {
		a.run = &r
	}
	a.mu.Unlock()
	if started {
		a.fail(stream, errors.New("workload already started"))
		return
	}
	writeEtc(r)
	if err := applyLimits(r); err != nil {
		a.fail(stream, err)
		return
	}
	if len(r.Args) == 0 {
		a.fail(stream, errors.New("no args"))
		return
	}
	null, _ := os.Open("/dev/null")
	lf := a.logPort.Fd()
	pid, ch, err := a.spawn(r.Args, r.Env, r.Cwd, r.User, []uintptr{null.Fd(), lf, lf}, false)
	null.Close()
	if err != nil {
		// The workload could not start: that is its exit (127, as a shell
		// says), reported like any other.
		fmt.Fprintf(a.logPort, "vimana: starting %s: %v\n", r.Args[0], err)
		a.reply(wire.TStarted, stream, wire.Started{})
		a.finish(wire.Exit{Code: 127})
		return
	}
	a.mu.Lock()
	a.pid = pid
	a.mu.Unlock()
	a.reply(wire.TStarted, stream, wire.Started{Pid: pid})
	go func() {
		ex := exitOf(<-ch)
		ex.OOMKilled = oomKilled()
		a.finish(ex)
	}()
}

// finish ends the machine: nothing of the workload survives it, the exit
// record reaches the host, and the VM powers off (QEMU then exits).
func (a *agent) finish(ex wire.Exit) {
	killAll()
	b, _ := json.Marshal(ex)
	if _, err := a.exitP.Write(append(b, '\n')); err != nil {
		logf("writing exit record: %v", err)
	}
	poweroff()
}
