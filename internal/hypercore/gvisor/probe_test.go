package gvisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// TestProbeMissingRunsc: without runsc the provider is unavailable and
// says why (as root; otherwise it says it needs root), and the answer is
// cached.
func TestProbeMissingRunsc(t *testing.T) {
	p, err := New(t.TempDir(), Options{Runsc: "/nonexistent/runsc"})
	if err != nil {
		t.Fatal(err)
	}
	want := "runsc binary \"/nonexistent/runsc\" not found"
	if os.Geteuid() != 0 {
		want = "needs root"
	}
	err = p.Probe(context.Background())
	if !errors.Is(err, hypercore.ErrUnavailable) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Probe = %v, want ErrUnavailable mentioning %q", err, want)
	}
	if err2 := p.Probe(context.Background()); err2 != err {
		t.Errorf("second Probe = %v, want the cached %v", err2, err)
	}
	if err := p.Create(context.Background(), "x", hypercore.MachineSpec{RootFS: t.TempDir(), Process: hypercore.Process{Args: []string{"/x"}}}); !errors.Is(err, hypercore.ErrUnavailable) {
		t.Errorf("Create without runsc = %v, want ErrUnavailable", err)
	}
}

// TestProbeBadPlatform: a platform this runsc cannot start is reported
// with runsc's own words.
func TestProbeBadPlatform(t *testing.T) {
	if _, err := New(t.TempDir(), Options{Platform: "vmware"}); !errors.Is(err, hypercore.ErrInvalid) {
		t.Fatalf("New with platform vmware = %v, want ErrInvalid", err)
	}
	p := newTestProvider(t) // skips without root or runsc
	q, err := New(t.TempDir(), Options{Platform: "systrap"})
	if err != nil {
		t.Fatal(err)
	}
	err = q.Probe(context.Background())
	if err == nil {
		t.Skipf("this runsc has systrap (auto chose %s)", p.Platform())
	}
	if !errors.Is(err, hypercore.ErrUnavailable) || !strings.Contains(err.Error(), "platform systrap") {
		t.Fatalf("Probe on systrap = %v", err)
	}
	t.Logf("auto platform: %s; systrap: %v", p.Platform(), err)
}

// TestProbeKVM: the kvm platform is used only when a container really
// starts on it; on kvm-pvm it hangs, and Probe says so in time and leaves
// no process behind.
func TestProbeKVM(t *testing.T) {
	newTestProvider(t) // skips without root or runsc
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm")
	}
	dir := t.TempDir()
	before := trialCgroups()
	p, err := New(dir, Options{Platform: "kvm", ProbeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Probe(context.Background())
	t.Logf("kvm probe: %v", err)
	if err == nil {
		return // real KVM: fine
	}
	if !errors.Is(err, hypercore.ErrUnavailable) {
		t.Fatalf("Probe = %v, want ErrUnavailable", err)
	}
	time.Sleep(500 * time.Millisecond)
	for name := range trialCgroups() {
		if !before[name] {
			t.Errorf("the killed probe's cgroup /%s is left", name)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), dir) {
			t.Errorf("probe left %s running: %q", filepath.Dir(f), strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}
