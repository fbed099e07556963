package firecracker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// TestProbe: the reasons Probe gives, from fake host files.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	fakeBin := filepath.Join(dir, "bin")
	os.MkdirAll(fakeBin, 0o755)
	for _, b := range []string{"firecracker", "jailer"} {
		os.WriteFile(filepath.Join(fakeBin, b), []byte("#!/bin/sh\n"), 0o755)
	}
	kvm := filepath.Join(dir, "kvm")
	os.WriteFile(kvm, nil, 0o600)
	mods := filepath.Join(dir, "module")
	os.MkdirAll(mods, 0o755)
	cpuinfo := filepath.Join(dir, "cpuinfo")
	os.WriteFile(cpuinfo, []byte("processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n"), 0o644)
	pvm := filepath.Join(dir, "module-pvm")
	os.MkdirAll(filepath.Join(pvm, "kvm_pvm"), 0o755)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no binary", Options{Firecracker: filepath.Join(dir, "nope")}, "firecracker binary not found"},
		{"no kvm", Options{Firecracker: fakeBin + "/firecracker", Jailer: fakeBin + "/jailer", KVM: filepath.Join(dir, "nokvm")}, "not present"},
		{"kvm-pvm", Options{Firecracker: fakeBin + "/firecracker", Jailer: fakeBin + "/jailer", KVM: kvm, sysModule: pvm, cpuinfo: cpuinfo}, "is kvm-pvm, not usable"},
		{"no vmx", Options{Firecracker: fakeBin + "/firecracker", Jailer: fakeBin + "/jailer", KVM: kvm, sysModule: mods, cpuinfo: cpuinfo}, "without VT-x/AMD-V"},
	} {
		p, _ := New(t.TempDir(), tc.opts)
		err := p.Probe(context.Background())
		if !errors.Is(err, hypercore.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Probe = %v, want ErrUnavailable mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestProbeHere: on this kind of machine (no firecracker, kvm-pvm) the
// provider is unavailable, and says why.
func TestProbeHere(t *testing.T) {
	p, _ := New(t.TempDir(), Options{})
	err := p.Probe(context.Background())
	if err == nil {
		t.Skip("firecracker and usable KVM are present: nothing to check here")
	}
	t.Logf("Probe: %v", err)
	if !errors.Is(err, hypercore.ErrUnavailable) {
		t.Fatalf("Probe = %v, want ErrUnavailable", err)
	}
	if err := p.Create(context.Background(), "x", hypercore.MachineSpec{}); !errors.Is(err, hypercore.ErrUnavailable) {
		t.Fatalf("Create = %v, want ErrUnavailable", err)
	}
}
