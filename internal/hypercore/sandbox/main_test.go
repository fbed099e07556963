package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
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
	if os.Geteuid() != 0 {
		t.Skip("sandbox tests need root (cgroups, namespaces, iptables); CI runs them as root")
	}
	if testing.Short() {
		t.Skip("sandbox tests start real containers; skipped with -short")
	}
	p, err := New(t.TempDir(), Options{})
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
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		d := filepath.Join("/sys/fs/cgroup", e.Name(), p.opts.CgroupParent, id)
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left behind", d)
		}
	}
	mi, _ := os.ReadFile("/proc/1/mountinfo") // the host's view, whatever namespace this thread is in
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, id) {
			t.Errorf("mount of %s left behind: %s", id, line)
		}
	}
	if _, err := os.Stat("/sys/class/net/" + vethName(id)); err == nil {
		t.Errorf("veth of %s left behind", id)
	}
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err == nil && strings.Contains(string(out), "vimana:"+id) {
			t.Errorf("iptables %s rules of %s left behind", table, id)
		}
	}
}

func TestConformance(t *testing.T) {
	var p *Provider
	hypercoretest.Run(t, func(t *testing.T) hypercore.Provider {
		p = newTestProvider(t)
		return p
	}, hypercoretest.Options{
		Reopen: func(t *testing.T) hypercore.Provider {
			p2, err := New(p.dir, p.opts)
			if err != nil {
				t.Fatal(err)
			}
			return p2
		},
		CheckClean: func(t *testing.T, id string) { checkClean(t, p, id) },
	})
}
