package microvm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/microvm/wire"
)

// handle watches one running QEMU: done closes once it has exited and the
// exit status is in meta.json.
type handle struct {
	pid  int
	done chan struct{}
	once sync.Once
}

func (h *handle) isDone() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// watch starts watching a machine's QEMU: by waiting on it when this
// provider started it (cmd), else by polling its pid (an adopted machine).
// While it runs, its log and console are checked against MaxLogBytes.
func (p *Provider) watch(id string, m *meta, cmd *exec.Cmd) *handle {
	p.mu.Lock()
	if h := p.machines[id]; h != nil && h.pid == m.Pid {
		p.mu.Unlock()
		return h
	}
	h := &handle{pid: m.Pid, done: make(chan struct{})}
	p.machines[id] = h
	p.mu.Unlock()
	exited := make(chan struct{})
	if cmd != nil {
		go func() { _ = cmd.Wait(); close(exited) }()
	} else {
		go func() {
			for d := 10 * time.Millisecond; alive(m.Pid, m.PidStart); d = min(2*d, time.Second) {
				time.Sleep(d)
			}
			close(exited)
		}()
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-exited:
				p.recordExit(id)
				close(h.done)
				return
			case <-t.C:
				if p.flooding(id) {
					_ = syscall.Kill(m.Pid, syscall.SIGKILL)
				}
			}
		}
	}()
	return h
}

func (p *Provider) flooding(id string) bool {
	for _, f := range []string{fileLog, fileConsole} {
		if fi, err := os.Stat(p.path(id, f)); err == nil && fi.Size() > p.opts.MaxLogBytes {
			return true
		}
	}
	return false
}

// handleOf returns the watch handle of a started machine, adopting it when
// this provider value has none yet; nil when it never started or has exited.
func (p *Provider) handleOf(id string, m *meta) *handle {
	if m.StartedAt.IsZero() || m.Exit != nil {
		return nil
	}
	p.mu.Lock()
	h := p.machines[id]
	p.mu.Unlock()
	if h != nil {
		return h
	}
	return p.watch(id, m, nil)
}

// recordExit stores how the machine ended: the agent's exit record, or a
// SIGKILL when there is none (the VM was killed or died).
func (p *Provider) recordExit(id string) {
	ex := hypercore.ExitStatus{Code: 137, Signal: 9, At: time.Now().UTC()}
	if b, err := os.ReadFile(p.path(id, fileExit)); err == nil {
		lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
		var we wire.Exit
		if len(lines) > 0 && json.Unmarshal(lines[len(lines)-1], &we) == nil && len(lines[len(lines)-1]) > 0 {
			ex.Code, ex.Signal, ex.OOMKilled = we.Code, we.Signal, we.OOMKilled
		}
	}
	_, _ = p.updateMeta(id, func(m *meta) error {
		if m.Exit == nil {
			m.Exit = &ex
		}
		return nil
	})
}

// procStart is a process's start time (clock ticks since boot), which with
// the pid identifies it across pid reuse.
func procStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; starttime is field 22.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 19 && f[0] != "Z" {
			n, _ := strconv.ParseUint(f[19], 10, 64)
			return n
		}
	}
	return 0
}

func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st := procStart(pid)
	return st != 0 && st == start
}

// State implements hypercore.Provider.
func (p *Provider) State(ctx context.Context, id string) (hypercore.Status, error) {
	m, err := p.loadMeta(id)
	if err != nil {
		return hypercore.Status{}, err
	}
	st := hypercore.Status{ID: id, CreatedAt: m.CreatedAt, StartedAt: m.StartedAt, Ports: m.Ports, Labels: m.Spec.Labels, Exit: m.Exit}
	switch {
	case m.StartedAt.IsZero():
		st.State = hypercore.StateCreated
	case m.Exit != nil:
		st.State = hypercore.StateStopped
	case alive(m.Pid, m.PidStart):
		// No IP: the guest's 10.0.2.15 is not reachable from the host;
		// published ports are.
		st.State, st.Pid = hypercore.StateRunning, m.Pid
	default:
		// Exited; its watcher may not have recorded it yet.
		if h := p.handleOf(id, m); h != nil {
			select {
			case <-h.done:
			case <-ctx.Done():
				return st, ctx.Err()
			}
		}
		if m, err = p.loadMeta(id); err != nil {
			return st, err
		}
		st.State, st.Exit = hypercore.StateStopped, m.Exit
	}
	return st, nil
}

// Wait implements hypercore.Provider.
func (p *Provider) Wait(ctx context.Context, id string) (hypercore.ExitStatus, error) {
	m, err := p.loadMeta(id)
	if err != nil {
		return hypercore.ExitStatus{}, err
	}
	if m.StartedAt.IsZero() {
		return hypercore.ExitStatus{}, fmt.Errorf("%w: machine %s was not started", hypercore.ErrState, id)
	}
	if h := p.handleOf(id, m); h != nil {
		select {
		case <-h.done:
		case <-ctx.Done():
			return hypercore.ExitStatus{}, ctx.Err()
		}
		if m, err = p.loadMeta(id); err != nil {
			return hypercore.ExitStatus{}, err
		}
	}
	if m.Exit == nil {
		return hypercore.ExitStatus{}, fmt.Errorf("%w: machine %s has no exit status", hypercore.ErrState, id)
	}
	return *m.Exit, nil
}

// Stop implements hypercore.Provider: SIGTERM to the workload through the
// agent, then, after grace, QEMU is killed (a guest that hangs or ignores
// the host ends the same way).
func (p *Provider) Stop(ctx context.Context, id string, grace time.Duration) error {
	m, err := p.loadMeta(id)
	if err != nil {
		return err
	}
	h := p.handleOf(id, m)
	if h == nil {
		return nil
	}
	if grace > 0 {
		deadline := time.Now().Add(grace)
		sctx, cancel := context.WithDeadline(ctx, deadline)
		if ac, err := p.acquire(sctx, id); err == nil {
			_ = ac.call(sctx, wire.TSignal, wire.Signal{Signal: int(syscall.SIGTERM)}, wire.TExitCode, nil)
			p.release(id, ac)
		}
		select {
		case <-h.done:
		case <-sctx.Done():
		}
		cancel()
	}
	if !h.isDone() {
		p.kill(id, h)
	}
	if ctx.Err() != nil && !h.isDone() {
		return ctx.Err()
	}
	return nil
}

// kill ends QEMU and waits for its watcher to record the exit.
func (p *Provider) kill(id string, h *handle) {
	if h.isDone() {
		return
	}
	_ = syscall.Kill(h.pid, syscall.SIGKILL)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
	}
}

// Delete implements hypercore.Provider.
func (p *Provider) Delete(ctx context.Context, id string) error {
	m, err := p.loadMeta(id)
	if err != nil {
		return err
	}
	if h := p.handleOf(id, m); h != nil {
		p.kill(id, h)
		if !h.isDone() {
			return fmt.Errorf("deleting %s: QEMU (pid %d) did not exit", id, h.pid)
		}
	}
	p.mu.Lock()
	delete(p.machines, id)
	if ac := p.conns[id]; ac != nil {
		ac.c.Close()
		delete(p.conns, id)
	}
	delete(p.dialing, id)
	p.mu.Unlock()
	for _, pt := range m.Ports {
		releasePort(id, pt.Protocol, pt.HostPort)
	}
	if err := os.RemoveAll(p.machineDir(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", id, err)
	}
	return nil
}
