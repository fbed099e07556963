package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostcgroup"
	"golang.org/x/sys/unix"
)

// machine is the in-process handle of a started machine: the waiter that
// records its exit.
type machine struct {
	done chan struct{} // closed once the exit is recorded
	once sync.Once
	// proc is the init this provider value started; Stop signals it
	// directly, because libcontainer's Signal goes by its own view of the
	// container, which right after the exec can say "stopped" (ErrNotRunning)
	// while the workload runs on.
	proc *libcontainer.Process
}

func (p *Provider) handle(id string) *machine {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.machines[id]
	if !ok {
		m = &machine{done: make(chan struct{})}
		p.machines[id] = m
	}
	return m
}

func (p *Provider) forget(id string) {
	p.mu.Lock()
	delete(p.machines, id)
	p.mu.Unlock()
}

func (p *Provider) load(id string) (*libcontainer.Container, error) {
	c, err := libcontainer.Load(p.lcRoot(), id)
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) {
			return nil, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
		}
		return nil, err
	}
	return c, nil
}

func (p *Provider) logPath(id string) string { return filepath.Join(p.machineDir(id), "console.log") }

// Start implements hypercore.Provider.
func (p *Provider) Start(ctx context.Context, id string) error {
	m, err := p.loadMeta(id)
	if err != nil {
		return err
	}
	if !m.StartedAt.IsZero() {
		return fmt.Errorf("starting sandbox %s: %w: already started", id, hypercore.ErrState)
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: m.OCI, NoNewKeyring: true})
	if err != nil {
		return fmt.Errorf("starting sandbox %s: %w", id, err)
	}
	// The init (a re-exec of this binary) runs inside the machine's cgroup
	// until it execs the workload. Under the workload's own tiny limits it
	// crawls (0.01 cores: ~0.7 s) or, with a few MiB of memory, can stall
	// in reclaim for minutes; so it starts under relaxed limits and the
	// real ones apply right after the exec (failing closed if they cannot).
	final := *cfg.Cgroups.Resources
	boot := bootResources(final)
	cfg.Cgroups.Resources = &boot
	c, err := libcontainer.Create(p.lcRoot(), id, cfg)
	if err != nil {
		if errors.Is(err, libcontainer.ErrExist) {
			return fmt.Errorf("starting sandbox %s: %w: already started", id, hypercore.ErrState)
		}
		return fmt.Errorf("starting sandbox %s: %w", id, err)
	}
	logf, err := os.OpenFile(p.logPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("starting sandbox %s: %w", id, err)
	}
	defer logf.Close() // the child holds its own copy
	uid, gid, _ := splitUser(m.Spec.Process.User)
	proc := &libcontainer.Process{
		Args:   m.Spec.Process.Args,
		Env:    envOf(m),
		Cwd:    cwdOf(m.Spec),
		UID:    uid,
		GID:    gid,
		Stdout: logf,
		Stderr: logf,
		Init:   true,
	}
	// Start creates the namespaces and parks the init before exec, so the
	// network is in place before the workload's first instruction.
	unlock := hostcgroup.Lock(unix.LOCK_SH)
	err = c.Start(proc)
	unlock()
	if err != nil {
		_ = c.Destroy()
		return fmt.Errorf("starting sandbox %s: %w", id, err)
	}
	if m.Net != nil {
		pid, perr := proc.Pid()
		if perr == nil {
			perr = p.net.Plumb(m.Net, pid)
		}
		if perr != nil {
			_ = c.Signal(syscall.SIGKILL)
			_, _ = proc.Wait()
			_ = c.Destroy()
			return fmt.Errorf("starting sandbox %s: network: %w", id, perr)
		}
	}
	if err := c.Exec(); err != nil {
		_ = c.Signal(syscall.SIGKILL)
		_, _ = proc.Wait()
		_ = c.Destroy()
		return fmt.Errorf("starting sandbox %s: %w", id, err)
	}
	if boot.Memory != final.Memory || boot.MemorySwap != final.MemorySwap || boot.CpuQuota != final.CpuQuota {
		if err := tighten(c, cfg, final); err != nil {
			_ = c.Signal(syscall.SIGKILL)
			_, _ = proc.Wait()
			_ = c.Destroy()
			return fmt.Errorf("starting sandbox %s: applying limits: %w", id, err)
		}
	}
	m.StartedAt = time.Now().UTC()
	if err := p.saveMeta(m); err != nil {
		return fmt.Errorf("starting sandbox %s: %w", id, err)
	}
	h := p.handle(id)
	p.mu.Lock()
	h.proc = proc
	p.mu.Unlock()
	go func() {
		ps, werr := proc.Wait()
		ex := exitFrom(ps, werr)
		ex.OOMKilled = oomKilled(c)
		p.recordExit(id, ex)
		h.once.Do(func() { close(h.done) })
	}()
	return nil
}

// Limits the init gets while it sets the machine up.
const (
	bootMemory = 256 << 20
)

// bootResources relaxes CPU and memory limits for the init.
func bootResources(r cgroups.Resources) cgroups.Resources {
	b := r
	if r.Memory > 0 && r.Memory < bootMemory {
		b.Memory = bootMemory
		if r.MemorySwap > 0 && r.MemorySwap < bootMemory {
			b.MemorySwap = bootMemory
		}
	}
	if r.CpuQuota > 0 && r.CpuPeriod > 0 && r.CpuQuota < int64(r.CpuPeriod) {
		b.CpuQuota = int64(r.CpuPeriod) // one core
	}
	return b
}

// tighten applies the machine's real limits once the workload runs,
// retrying briefly while the kernel reclaims the init's pages.
func tighten(c *libcontainer.Container, cfg *configs.Config, final cgroups.Resources) error {
	fc := *cfg
	cg := *cfg.Cgroups
	cg.Resources = &final
	fc.Cgroups = &cg
	var err error
	for i := 0; i < 50; i++ {
		if err = c.Set(fc); err == nil || errors.Is(err, libcontainer.ErrNotRunning) {
			return nil // applied, or the workload already exited
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

func (p *Provider) recordExit(id string, ex hypercore.ExitStatus) {
	// Several waiters (the supervisor's, Stop's) may see the same exit:
	// the first one records it, under the lock, and the others keep it.
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m, err := p.loadMeta(id)
	if err != nil {
		return // deleted meanwhile
	}
	if m.Exit == nil {
		m.Exit = &ex
		_ = p.saveMeta(m)
	}
}

func exitFrom(ps *os.ProcessState, err error) hypercore.ExitStatus {
	ex := hypercore.ExitStatus{At: time.Now().UTC(), Code: 255}
	if ps == nil {
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) {
			ex.Code = ee.ExitCode()
		}
		return ex
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ex.Signal = int(ws.Signal())
		ex.Code = 128 + ex.Signal
		return ex
	}
	ex.Code = ps.ExitCode()
	return ex
}

// oomKilled reads the cgroup's OOM kill counter (v1 memory.oom_control,
// v2 memory.events).
func oomKilled(c *libcontainer.Container) bool {
	st, err := c.State()
	if err != nil {
		return false
	}
	for _, f := range []string{
		filepath.Join(st.CgroupPaths["memory"], "memory.oom_control"),
		filepath.Join(st.CgroupPaths[""], "memory.events"),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, " ")
			if k == "oom_kill" && v != "0" && v != "" {
				return true
			}
		}
	}
	return false
}

func splitUser(u string) (int, int, error) {
	if u == "" {
		return 0, 0, nil
	}
	us, gs, hasG := strings.Cut(u, ":")
	uid, err := strconv.Atoi(us)
	if err != nil {
		return 0, 0, err
	}
	gid := uid
	if hasG {
		if gid, err = strconv.Atoi(gs); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

func cwdOf(s hypercore.MachineSpec) string {
	if s.Process.Cwd == "" {
		return "/"
	}
	return s.Process.Cwd
}

func envOf(m *meta) []string {
	env := append([]string(nil), m.Spec.Process.Env...)
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if !hasEnv(env, "HOSTNAME") && m.OCI != nil && m.OCI.Hostname != "" {
		env = append(env, "HOSTNAME="+m.OCI.Hostname)
	}
	return env
}

func hasEnv(env []string, k string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, k+"=") {
			return true
		}
	}
	return false
}
