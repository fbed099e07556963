package microvm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	// The test binary is also the guest agent (/init of the initramfs).
	if Reexec() {
		return
	}
	os.Exit(m.Run())
}

// testCacheDir is shared by every test run on the host so the kernel is
// downloaded once (CI caches it too).
func testCacheDir() string {
	if d := os.Getenv("VIMANA_MICROVM_CACHE"); d != "" {
		return d
	}
	return HostCacheDir
}

// newTestProvider returns a provider in a fresh dir, or skips with the
// reason microVMs cannot run here.
func newTestProvider(t *testing.T) *Provider {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("microvm tests need root; CI runs them as root")
	}
	if testing.Short() {
		t.Skip("microvm tests boot VMs; skipped with -short")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed (scripts/setup.sh installs it)")
	}
	// Short paths: the control socket's path must fit in sun_path.
	dir, err := os.MkdirTemp("", "mvm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p, err := New(dir, Options{CacheDir: testCacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Probe(context.Background()); err != nil {
		t.Skipf("microvm unavailable: %v", err)
	}
	return p
}

// checkClean asserts that nothing of machine id is left on the host.
func checkClean(t *testing.T, p *Provider, id string) {
	t.Helper()
	if _, err := os.Stat(p.machineDir(id)); !os.IsNotExist(err) {
		t.Errorf("machine dir of %s still exists (err=%v)", id, err)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), p.machineDir(id)) {
			t.Errorf("process %s of %s left behind: %s", e.Name(), id, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	if ents, _ := os.ReadDir(portsDir); len(ents) > 0 {
		for _, e := range ents {
			if b, _ := os.ReadFile(filepath.Join(portsDir, e.Name())); string(b) == id {
				t.Errorf("host port claim %s of %s left behind", e.Name(), id)
			}
		}
	}
}
