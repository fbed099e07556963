package agent

import (
	"encoding/json"
	"errors"
	"os"
	"sync"

	"github.com/vistara-labs/vimana/internal/hypercore/microvm/wire"
	"golang.org/x/sys/unix"
)

// session is one exec.
type session struct {
	stdin  chan []byte // nil data: EOF
	resize func(wire.Resize)
	once   sync.Once
	done   chan struct{}
}

func (s *session) input(f wire.Frame) {
	if f.Type == wire.TResize {
		var r wire.Resize
		if s.resize != nil && json.Unmarshal(f.Payload, &r) == nil {
			s.resize(r)
		}
		return
	}
	var b []byte
	if f.Type == wire.TStdin {
		b = f.Payload
		if len(b) == 0 {
			return
		}
	}
	select {
	case s.stdin <- b:
	case <-s.done:
	}
}

func (a *agent) endSessions() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, s := range a.sessions {
		s.once.Do(func() { close(s.done) })
		delete(a.sessions, id)
	}
}

func (a *agent) startExec(stream uint32, e wire.Exec) {
	a.mu.Lock()
	r := a.run
	a.mu.Unlock()
	if len(e.Args) == 0 {
		a.fail(stream, errors.New("no args"))
		return
	}
	env := append([]string{}, e.Env...)
	user, dir := e.User, e.Dir
	if r != nil {
		env = append(append([]string{}, r.Env...), e.Env...)
		if user == "" {
			user = r.User
		}
		if dir == "" {
			dir = r.Cwd
		}
	}
	if e.TTY {
		a.startTTYExec(stream, e, env, dir, user)
		return
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		a.fail(stream, err)
		return
	}
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	if !e.Stdin {
		inW.Close()
		inW = nil
	}
	pid, ch, err := a.spawn(e.Args, env, dir, user, []uintptr{inR.Fd(), outW.Fd(), errW.Fd()}, false)
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		if inW != nil {
			inW.Close()
		}
		a.fail(stream, err)
		return
	}
	s := &session{stdin: make(chan []byte, 16), done: make(chan struct{})}
	a.mu.Lock()
	a.sessions[stream] = s
	a.mu.Unlock()
	if inW != nil {
		go func() {
			defer inW.Close()
			for {
				select {
				case b := <-s.stdin:
					if b == nil {
						return
					}
					if _, err := inW.Write(b); err != nil {
						return
					}
				case <-s.done:
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	pump := func(r *os.File, t wire.Type) {
		defer wg.Done()
		defer r.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				_ = a.w.WriteData(t, stream, buf[:n])
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(outR, wire.TStdout)
	go pump(errR, wire.TStderr)
	go func() {
		var ws unix.WaitStatus
		select {
		case ws = <-ch:
		case <-s.done: // host went away: the session ends with it
			_ = unix.Kill(pid, unix.SIGKILL)
			ws = <-ch
		}
		wg.Wait()
		a.mu.Lock()
		delete(a.sessions, stream)
		a.mu.Unlock()
		s.once.Do(func() { close(s.done) })
		a.reply(wire.TExitCode, stream, wire.ExitCode{Code: exitOf(ws).Code})
	}()
}
