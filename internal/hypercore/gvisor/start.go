package gvisor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostcgroup"
	"golang.org/x/sys/unix"
)

// machine is the in-process handle of a machine this provider value
// started: the waiter that records its exit.
type machine struct {
	done chan struct{} // closed once the exit is recorded
	once sync.Once
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

// shimScript runs `runsc run` and writes its exit code to the file named
// by $0 once it ends. runsc run is the parent of the sandbox process and
// so the one process that learns the workload's exit status (`runsc wait`
// from anyone else fails with "sandbox no longer running and its exit
// status is unavailable" when the workload exits first); the shell keeps
// that status on disk, so it survives a daemon restart. runsc exits with
// the workload's code, or 128+signal when it was killed.
const shimScript = `"$@"; echo $? > "$0.tmp" && mv -f "$0.tmp" "$0"`

// Start implements hypercore.Provider: it launches the shim and returns
// once runsc reports the container running (or it has already exited).
func (p *Provider) Start(ctx context.Context, id string) error {
	m, err := p.loadMeta(id)
	if err != nil {
		return err
	}
	if !m.StartedAt.IsZero() {
		return fmt.Errorf("starting gvisor machine %s: %w: already started", id, hypercore.ErrState)
	}
	logf, err := os.OpenFile(p.logPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("starting gvisor machine %s: %w", id, err)
	}
	defer logf.Close() // the shim holds its own copy
	args := append(p.flags(m), "--log", filepath.Join(p.machineDir(id), "runsc.log"),
		"run", "--bundle", p.bundleDir(id), m.RunscID)
	cmd := exec.Command("/bin/sh", append([]string{"-c", shimScript, p.exitPath(id), p.bin()}, args...)...)
	cmd.Dir = p.machineDir(id)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the machine outlives the daemon (it is re-adopted
	// after a restart) and a terminal's signals never reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// runsc creates the machine's cgroup; an exclusive holder (the sweep
	// of the emptied parent) must not run in between.
	unlock := hostcgroup.Lock(unix.LOCK_SH)
	if m.Network == "sandbox" {
		err = startMasked(cmd, filepath.Join(p.machineDir(id), "netns"))
	} else {
		err = cmd.Start()
	}
	if err != nil {
		unlock()
		return fmt.Errorf("starting gvisor machine %s: %w", id, err)
	}
	m.StartedAt = time.Now().UTC()
	m.ShimPid = cmd.Process.Pid
	if err := p.saveMeta(m); err != nil {
		unlock()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("starting gvisor machine %s: %w", id, err)
	}
	h := p.handle(id)
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
		p.recordExit(id, p.readExit(id))
		h.once.Do(func() { close(h.done) })
	}()
	err = p.awaitRunning(ctx, m, exited)
	unlock()
	if err != nil {
		_, _ = p.runsc(context.WithoutCancel(ctx), m, "kill", m.RunscID, "KILL")
		return fmt.Errorf("starting gvisor machine %s: %w", id, err)
	}
	return nil
}

// awaitRunning waits until the container runs or the shim exits. It
// reads runsc's state file (a JSON record with a "status" field; cheap)
// every few milliseconds and asks `runsc state` (an exec of runsc, tens
// of milliseconds) only now and then, in case a runsc version keeps its
// state elsewhere.
func (p *Provider) awaitRunning(ctx context.Context, m *meta, exited <-chan struct{}) error {
	const tick = 3 * time.Millisecond
	for i := 0; ; i++ {
		select {
		case <-exited:
			return nil // ran and ended already: Wait has the code
		default:
		}
		if st := p.stateFileStatus(m); st == "running" || (i%30 == 29 && p.status(ctx, m) == "running") {
			return nil
		}
		t := time.NewTimer(tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-exited:
			t.Stop()
		case <-t.C:
		}
	}
}

// stateFileStatus reads the status runsc records for m's container in its
// root directory, or "" (no file yet, being rewritten, another format).
func (p *Provider) stateFileStatus(m *meta) string {
	b, err := os.ReadFile(filepath.Join(p.runscRoot(), m.RunscID+"_sandbox:"+m.RunscID+".state"))
	if err != nil {
		return ""
	}
	var st struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(b, &st) != nil {
		return ""
	}
	return st.Status
}

// readExit turns the shim's exit file into an ExitStatus; without one
// (the shim was killed) the code is unknowable and 255 is recorded.
// runsc reports a workload killed by a signal as 128+signal, which is
// also how such an exit is recorded here.
func (p *Provider) readExit(id string) hypercore.ExitStatus {
	ex := hypercore.ExitStatus{Code: 255, At: time.Now().UTC()}
	code, ok := p.exitCode(id)
	if !ok {
		return ex
	}
	ex.Code = code
	if code > 128 && code < 128+65 {
		ex.Signal = code - 128
	}
	if ex.Signal == int(syscall.SIGKILL) && p.oomHint(id) {
		ex.OOMKilled = true
	}
	return ex
}

// exitCode reads the shim's exit file.
func (p *Provider) exitCode(id string) (int, bool) {
	b, err := os.ReadFile(p.exitPath(id))
	if err != nil {
		return 0, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return code, true
}

// oomHint reports whether the sentry's log says it ran out of memory.
func (p *Provider) oomHint(id string) bool {
	b, err := os.ReadFile(filepath.Join(p.machineDir(id), "runsc.log"))
	return err == nil && strings.Contains(strings.ToLower(string(b)), "out of memory")
}

func (p *Provider) recordExit(id string, ex hypercore.ExitStatus) {
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

// shimAlive reports whether the shim of m still runs (its pid exists and
// is still our shell: pids are reused).
func shimAlive(m *meta) bool {
	if m.ShimPid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", m.ShimPid))
	if err != nil {
		return false
	}
	return strings.Contains(string(b), m.RunscID)
}
