package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore/hostcgroup"
	"github.com/vistara-labs/vimana/internal/hypercore/hostnet"
)

func TestMain(m *testing.M) {
	// The test binary is also the container init.
	if Reexec() {
		return
	}
	os.Exit(m.Run())
}

// newTestProvider returns a provider in a fresh dir, or skips with the
// reason the sandbox cannot run here.
func newTestProvider(t *testing.T) *Provider {
	t.Helper()
	return newTestProviderOpts(t, Options{})
}

func newTestProviderOpts(t *testing.T, opts Options) *Provider {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sandbox tests need root (cgroups, namespaces, iptables); CI runs them as root")
	}
	if testing.Short() {
		t.Skip("sandbox tests start real containers; skipped with -short")
	}
	p, err := New(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Probe(context.Background()); err != nil {
		t.Skipf("sandbox unavailable: %v", err)
	}
	return p
}

// checkClean asserts that nothing of machine id is left on the host.
func checkClean(t *testing.T, p *Provider, id string) {
	t.Helper()
	if _, err := os.Stat(p.machineDir(id)); !os.IsNotExist(err) {
		t.Errorf("machine dir of %s still exists (err=%v)", id, err)
	}
	if _, err := os.Stat(filepath.Join(p.lcRoot(), id)); !os.IsNotExist(err) {
		t.Errorf("libcontainer state of %s still exists", id)
	}
	for _, d := range hostcgroup.Leftovers(p.opts.CgroupParent, id, false) {
		t.Errorf("cgroup %s left behind", d)
	}
	mi, _ := os.ReadFile("/proc/1/mountinfo") // the host's view, whatever namespace this thread is in
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, id) {
			t.Errorf("mount of %s left behind: %s", id, line)
		}
	}
	if _, err := os.Stat("/sys/class/net/" + hostnet.VethName(id)); err == nil {
		t.Errorf("veth of %s left behind", id)
	}
	if ents, _ := os.ReadDir(hostnet.PortsDir); len(ents) > 0 {
		for _, e := range ents {
			if b, _ := os.ReadFile(filepath.Join(hostnet.PortsDir, e.Name())); string(b) == id {
				t.Errorf("host port claim %s of %s left behind", e.Name(), id)
			}
		}
	}
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err == nil && strings.Contains(string(out), "vimana:"+id) {
			t.Errorf("iptables %s rules of %s left behind", table, id)
		}
	}
}
