package microvm

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/microvm/wire"
)

// Start implements hypercore.Provider: it boots the VM and has the agent
// start the workload; it returns once the workload runs (or has already
// failed to, which is then its exit status).
func (p *Provider) Start(ctx context.Context, id string) error {
	p.mu.Lock()
	if p.starting[id] {
		p.mu.Unlock()
		return fmt.Errorf("%w: machine %s is being started", hypercore.ErrState, id)
	}
	p.starting[id] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.starting, id)
		p.mu.Unlock()
	}()
	m, err := p.loadMeta(id)
	if err != nil {
		return err
	}
	if !m.StartedAt.IsZero() {
		return fmt.Errorf("%w: machine %s was already started", hypercore.ErrState, id)
	}
	s, err := p.vmSetup(ctx)
	if err != nil {
		return fmt.Errorf("starting %s: %w", id, err)
	}
	memLimit := m.Spec.Resources.MemoryBytes
	if memLimit <= 0 {
		memLimit = p.opts.DefaultMemory
	}
	dir := p.machineDir(id)
	qlog, err := os.Create(p.path(id, fileQEMU))
	if err != nil {
		return err
	}
	defer qlog.Close()
	for _, f := range []string{fileLog, fileExit, fileConsole} {
		if err := os.WriteFile(p.path(id, f), nil, 0o600); err != nil {
			return err
		}
	}
	cmd := exec.Command(p.opts.QEMU, qemuArgs(s, dir, m, memLimit)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = qlog, qlog
	// Its own session: QEMU outlives the daemon (and its signals) and is
	// re-adopted from meta.json.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w: %v", id, hypercore.ErrUnavailable, err)
	}
	m, err = p.updateMeta(id, func(m *meta) error {
		m.StartedAt = time.Now().UTC()
		m.Pid = cmd.Process.Pid
		m.PidStart = procStart(cmd.Process.Pid)
		m.Accel = s.accel
		return nil
	})
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	h := p.watch(id, m, cmd)
	if err := p.run(ctx, id, m, h); err != nil {
		p.kill(id, h)
		return fmt.Errorf("starting %s: %w", id, err)
	}
	return nil
}

// run waits for the agent and hands it the workload.
func (p *Provider) run(ctx context.Context, id string, m *meta, h *handle) error {
	for {
		// QEMU creates the socket, then listens on it: dial until it
		// answers.
		if c, err := net.Dial("unix", p.path(id, fileCtl)); err == nil {
			c.Close() // QEMU takes the next client once this one is gone
			break
		}
		select {
		case <-h.done:
			return fmt.Errorf("%w: QEMU exited during boot: %s", hypercore.ErrUnavailable, tail(p.path(id, fileQEMU)))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-h.done: // a guest that dies while booting ends the wait
			cancel()
		case <-actx.Done():
		}
	}()
	ac, err := p.acquire(actx, id)
	if err != nil {
		if h.isDone() {
			return fmt.Errorf("%w: the VM stopped while booting: %s", hypercore.ErrUnavailable, tail(p.path(id, fileConsole)))
		}
		return err
	}
	defer p.release(id, ac)
	r := m.Spec.Resources
	req := wire.Run{
		Args: m.Spec.Process.Args, Env: m.Spec.Process.Env, Cwd: m.Spec.Process.Cwd, User: m.Spec.Process.User,
		Hostname: m.Spec.Name, MemoryBytes: r.MemoryBytes, Pids: r.Pids, MilliCPU: r.MilliCPU, Egress: m.Spec.Network.Egress,
	}
	if req.MemoryBytes <= 0 {
		req.MemoryBytes = p.opts.DefaultMemory
	}
	var started wire.Started
	return ac.call(actx, wire.TRun, req, wire.TStarted, &started)
}

// tail returns the end of a file for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}
