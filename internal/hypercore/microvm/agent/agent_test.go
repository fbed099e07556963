package agent

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCredential(t *testing.T) {
	for in, want := range map[string]*syscall.Credential{
		"":          nil,
		"1000":      {Uid: 1000, Gid: 1000, Groups: []uint32{}},
		"65534:100": {Uid: 65534, Gid: 100, Groups: []uint32{}},
	} {
		got, err := credential(in)
		if err != nil || (got == nil) != (want == nil) || (got != nil && (got.Uid != want.Uid || got.Gid != want.Gid)) {
			t.Errorf("credential(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"root", "1:x", "-1"} {
		if _, err := credential(bad); err == nil {
			t.Errorf("credential(%q) accepted", bad)
		}
	}
}

func TestExitOf(t *testing.T) {
	// Wait statuses as the kernel encodes them: code<<8, or the signal.
	if ex := exitOf(unix.WaitStatus(7 << 8)); ex.Code != 7 || ex.Signal != 0 {
		t.Errorf("exit 7 = %+v", ex)
	}
	if ex := exitOf(unix.WaitStatus(9)); ex.Code != 137 || ex.Signal != 9 {
		t.Errorf("SIGKILL = %+v", ex)
	}
}

func TestLookPath(t *testing.T) {
	if p, err := lookPath("sh", []string{"PATH=/nonexistent:/bin"}); err != nil || p != "/bin/sh" {
		t.Errorf("lookPath(sh) = %q, %v", p, err)
	}
	if _, err := lookPath("no-such-binary-here", []string{"PATH=/bin"}); err == nil {
		t.Errorf("lookPath of a missing binary succeeded")
	}
}
