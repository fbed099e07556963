package microvm

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

func argAfter(args []string, flag string) []string {
	var out []string
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			out = append(out, args[i+1])
		}
	}
	return out
}

func TestQEMUArgs(t *testing.T) {
	s := &vmSetup{kernel: kernel{Vmlinuz: "/k/vmlinuz"}, initramfs: "/c/initramfs.cpio", initSize: 10 << 20, accel: "tcg", tscKHz: 2596122}
	m := &meta{
		Spec: hypercore.MachineSpec{Resources: hypercore.Resources{MilliCPU: 500}},
		Ports: []hypercore.Port{
			{Port: 8080, HostPort: 20001, Protocol: "tcp"},
			{Port: 53, HostPort: 20002, Protocol: "udp", HostIP: "127.0.0.1"},
		},
	}
	args := qemuArgs(s, "/m", m, 128<<20)
	for _, want := range []string{"-nodefaults", "-no-user-config", "-nographic", "-no-reboot"} {
		if !slices.Contains(args, want) {
			t.Errorf("args lack %s", want)
		}
	}
	if got := argAfter(args, "-M"); len(got) != 1 || got[0] != "microvm" {
		t.Errorf("-M = %v", got)
	}
	if got := argAfter(args, "-accel"); len(got) != 1 || !strings.HasPrefix(got[0], "tcg,tb-size=") {
		t.Errorf("-accel = %v", got)
	}
	if slices.Contains(args, "-cpu") {
		t.Errorf("TCG gets -cpu: %v", args)
	}
	if got := argAfter(args, "-m"); len(got) != 1 || got[0] != "228M" { // 128 + 80 + 2*10
		t.Errorf("-m = %v, want 228M", got)
	}
	if got := argAfter(args, "-smp"); len(got) != 1 || got[0] != "1" {
		t.Errorf("-smp = %v", got)
	}
	cmdline := strings.Join(argAfter(args, "-append"), "")
	for _, want := range []string{"tsc_early_khz=2596122", "tsc=reliable", "no_timer_check", "vimana_agent=1", "console=ttyS0", "panic=-1"} {
		if !strings.Contains(cmdline, want) {
			t.Errorf("cmdline %q lacks %s", cmdline, want)
		}
	}
	netdev := strings.Join(argAfter(args, "-netdev"), "")
	for _, want := range []string{"restrict=on", "hostfwd=tcp::20001-:8080", "hostfwd=udp:127.0.0.1:20002-:53"} {
		if !strings.Contains(netdev, want) {
			t.Errorf("netdev %q lacks %s", netdev, want)
		}
	}
	chardevs := strings.Join(argAfter(args, "-chardev"), " ")
	for _, want := range []string{"path=/m/ctl.sock,server=on,wait=off", "path=/m/log", "path=/m/exit", "path=/m/console.log"} {
		if !strings.Contains(chardevs, want) {
			t.Errorf("chardevs %q lack %s", chardevs, want)
		}
	}

	s.accel = "kvm"
	m.Spec.Network.Egress = true
	m.Spec.Resources.MilliCPU = 2500
	args = qemuArgs(s, "/m", m, 64<<20)
	if got := argAfter(args, "-cpu"); len(got) != 1 || got[0] != "host" {
		t.Errorf("KVM -cpu = %v, want host", got)
	}
	if strings.Contains(strings.Join(argAfter(args, "-append"), ""), "tsc_early_khz") {
		t.Errorf("KVM cmdline carries TCG clock hints")
	}
	if strings.Contains(strings.Join(argAfter(args, "-netdev"), ""), "restrict=on") {
		t.Errorf("egress allowed but netdev restricted")
	}
}

func TestHostTSC(t *testing.T) {
	if khz := hostTSCkHz(); khz < 100_000 || khz > 10_000_000 {
		t.Errorf("host TSC = %d kHz; want a plausible CPU frequency", khz)
	}
}

func TestAgentBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := agentBinary(""); err != nil || (got != self && filepath.Base(got) != AgentName) {
		t.Errorf("agentBinary() = %q, %v; want this executable or a %s beside it", got, err, AgentName)
	}
	f := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := agentBinary(f); err != nil || got != f {
		t.Errorf("agentBinary(%q) = %q, %v", f, got, err)
	}
	if _, err := agentBinary(f + "-missing"); !errors.Is(err, hypercore.ErrUnavailable) {
		t.Errorf("agentBinary of a missing file: %v, want ErrUnavailable", err)
	}
}
