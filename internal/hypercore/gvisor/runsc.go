package gvisor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostcgroup"
)

// flags are the global runsc flags for machine m; every command on one
// machine gets the same ones (runsc reads its configuration from them).
func (p *Provider) flags(m *meta) []string {
	return []string{"--root", p.runscRoot(), "--platform", m.Platform, "--network", m.Network}
}

// runsc runs one runsc command to completion and returns its stdout;
// failures carry runsc's stderr.
func (p *Provider) runsc(ctx context.Context, m *meta, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, p.bin(), append(p.flags(m), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("runsc %s: %v: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// bin is the runsc binary: resolved by Probe, else as configured.
func (p *Provider) bin() string {
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	if p.runscBin != "" {
		return p.runscBin
	}
	return p.opts.Runsc
}

// status returns runsc's view of the container ("created", "running",
// "stopped"), or "" when runsc does not know it.
func (p *Provider) status(ctx context.Context, m *meta) string {
	out, err := p.runsc(ctx, m, "state", m.RunscID)
	if err != nil {
		return ""
	}
	var st struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(out, &st) != nil {
		return ""
	}
	return st.Status
}

// Probe implements hypercore.Provider: root, runsc present, a platform on
// which a trivial container runs. The answer is cached (a failure caused by
// ctx ending is not).
func (p *Provider) Probe(ctx context.Context) error {
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	if p.probed {
		return p.probeErr
	}
	bin, plat, err := p.probe(ctx)
	if ctx.Err() != nil && err != nil {
		return err
	}
	p.probed, p.probeErr, p.runscBin, p.platform = true, err, bin, plat
	return err
}

func (p *Provider) probe(ctx context.Context) (string, string, error) {
	if os.Geteuid() != 0 {
		return "", "", fmt.Errorf("%w: gvisor needs root (runsc as root, cgroups, namespaces, iptables)", hypercore.ErrUnavailable)
	}
	bin, err := exec.LookPath(p.opts.Runsc)
	if err != nil {
		return "", "", fmt.Errorf("%w: runsc binary %q not found (install gVisor's runsc, e.g. apt-get install runsc): %v", hypercore.ErrUnavailable, p.opts.Runsc, err)
	}
	if err := p.net.Probe(); err != nil {
		return "", "", fmt.Errorf("%w: %v", hypercore.ErrUnavailable, err)
	}
	var cands []string
	switch p.opts.Platform {
	case "auto":
		cands = []string{"systrap", "ptrace"}
	default:
		cands = []string{p.opts.Platform}
	}
	var errs []string
	for _, plat := range cands {
		err := p.trial(ctx, bin, plat)
		if err == nil {
			return bin, plat, nil
		}
		errs = append(errs, fmt.Sprintf("platform %s: %v", plat, err))
	}
	return "", "", fmt.Errorf("%w: runsc (%s) cannot start a trivial container: %s", hypercore.ErrUnavailable, bin, strings.Join(errs, "; "))
}

// trial runs /bin/true from the host's filesystem in a throw-away sandbox
// (`runsc do`) on platform plat, bounded by ProbeTimeout: the kvm platform
// hangs rather than fails where KVM is not real.
func (p *Provider) trial(ctx context.Context, bin, plat string) error {
	root, err := os.MkdirTemp(p.dir, "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	before := trialCgroups()
	defer func() {
		// A `runsc do` killed on timeout cannot remove the cgroup it
		// made (/runsc-<n> in every hierarchy). Remove the ones that
		// appeared meanwhile; rmdir refuses any still in use (another
		// probe's), so only dead ones go.
		// The killed processes leave their cgroups a moment later.
		for try := 0; try < 20; try++ {
			left := 0
			for name := range trialCgroups() {
				if !before[name] {
					hostcgroup.Remove("/", name)
					left++
				}
			}
			if left == 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, p.opts.ProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--root", root, "--platform", plat, "--network", "none", "do", "/bin/true")
	cmd.Dir = root
	// Its own process group, killed whole on timeout: a hung sandbox is a
	// child of `runsc do`, not of us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("no answer within %s", p.opts.ProbeTimeout)
	}
	if err != nil {
		return fmt.Errorf("%v: %s", err, lastLine(out))
	}
	return nil
}

// trialCgroups lists the /runsc-<n> cgroups `runsc do` makes.
func trialCgroups() map[string]bool {
	out := map[string]bool{}
	for _, root := range hostcgroup.Roots() {
		m, _ := filepath.Glob(filepath.Join(root, "runsc-*"))
		for _, d := range m {
			out[filepath.Base(d)] = true
		}
	}
	return out
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// Platform is the platform Probe settled on ("" before a successful Probe).
func (p *Provider) Platform() string {
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	return p.platform
}

// bundleDir is where the OCI bundle (config.json) of a machine lives.
func (p *Provider) bundleDir(id string) string { return filepath.Join(p.machineDir(id), "bundle") }
