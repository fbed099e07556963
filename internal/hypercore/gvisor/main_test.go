package gvisor

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

// newTestProvider returns a provider in a fresh dir, or skips with the
// reason gVisor cannot run here.
func newTestProvider(t *testing.T) *Provider {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("gvisor tests need root (runsc, cgroups, namespaces, iptables); CI runs them as root")
	}
	if testing.Short() {
		t.Skip("gvisor tests start real sandboxes; skipped with -short")
	}
	if _, err := exec.LookPath("runsc"); err != nil {
		t.Skip("runsc is not installed (apt-get install runsc)")
	}
	p, err := New(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Probe(context.Background()); err != nil {
		t.Skipf("gvisor unavailable: %v", err)
	}
	return p
}

// checkClean asserts that nothing of machine id is left on the host:
// files, runsc state, processes, cgroups, mounts, netns, veth, port claims
// and firewall rules.
func checkClean(t *testing.T, p *Provider, id string) {
	t.Helper()
	rid := runscID(id)
	if _, err := os.Stat(p.machineDir(id)); !os.IsNotExist(err) {
		t.Errorf("machine dir of %s still exists (err=%v)", id, err)
	}
	if ents, _ := os.ReadDir(p.runscRoot()); len(ents) > 0 {
		for _, e := range ents {
			if strings.Contains(e.Name(), rid) {
				t.Errorf("runsc state %s of %s left behind", e.Name(), id)
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), rid) {
			t.Errorf("process %s of %s left behind: %q", filepath.Dir(f), id, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	for _, d := range hostcgroup.Leftovers(p.opts.CgroupParent, rid, false) {
		t.Errorf("cgroup %s left behind", d)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, "/machines/"+id+"/") || strings.Contains(line, "/machines/"+id+" ") {
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
