package ocispec

import (
	"errors"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

func TestBuild(t *testing.T) {
	ms := hypercore.MachineSpec{
		Name:      "web",
		Process:   hypercore.Process{Args: []string{"/app"}, Env: []string{"A=1"}, User: "1000:1001", Cwd: "/srv"},
		Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: 64 << 20, Pids: 10},
		Volumes:   []hypercore.Volume{{Name: "data", HostPath: "/var/lib/x", Path: "/data", ReadOnly: true}},
	}
	s, err := Build(ms, Options{RootFS: "/r", CgroupsPath: "/vimana/web", NetNSPath: "/run/netns/x"})
	if err != nil {
		t.Fatal(err)
	}
	if *s.Linux.Resources.CPU.Quota != 50000 || *s.Linux.Resources.CPU.Period != 100000 {
		t.Errorf("cpu quota/period = %d/%d, want 50000/100000", *s.Linux.Resources.CPU.Quota, *s.Linux.Resources.CPU.Period)
	}
	if *s.Linux.Resources.Memory.Limit != 64<<20 || *s.Linux.Resources.Memory.Swap != 64<<20 {
		t.Errorf("memory = %+v", s.Linux.Resources.Memory)
	}
	if *s.Linux.Resources.Pids.Limit != 10 {
		t.Errorf("pids = %d", *s.Linux.Resources.Pids.Limit)
	}
	if s.Process.User.UID != 1000 || s.Process.User.GID != 1001 || s.Process.Cwd != "/srv" {
		t.Errorf("user/cwd = %+v %q", s.Process.User, s.Process.Cwd)
	}
	if !s.Process.NoNewPrivileges || s.Linux.Seccomp == nil {
		t.Error("no_new_privileges and seccomp must be on by default")
	}
	if slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
		t.Error("CAP_SYS_ADMIN must be dropped")
	}
	var netns specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			netns = n
		}
	}
	if netns.Path != "/run/netns/x" {
		t.Errorf("netns path = %q", netns.Path)
	}
	if !slices.Contains(s.Process.Env, "A=1") || !slices.Contains(s.Process.Env, "HOSTNAME=web") {
		t.Errorf("env = %v", s.Process.Env)
	}
	last := s.Mounts[len(s.Mounts)-1]
	if last.Destination != "/data" || !slices.Contains(last.Options, "ro") {
		t.Errorf("volume mount = %+v", last)
	}
}

func TestBuildRejects(t *testing.T) {
	for name, ms := range map[string]hypercore.MachineSpec{
		"no args":      {},
		"bad user":     {Process: hypercore.Process{Args: []string{"/a"}, User: "root"}},
		"relative cwd": {Process: hypercore.Process{Args: []string{"/a"}, Cwd: "srv"}},
	} {
		if _, err := Build(ms, Options{}); !errors.Is(err, hypercore.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestSeccompDeniesHostChanges(t *testing.T) {
	p := DefaultSeccomp()
	allowedSet := map[string]bool{}
	for _, sc := range p.Syscalls {
		if sc.Action == specs.ActAllow {
			for _, n := range sc.Names {
				allowedSet[n] = true
			}
		}
	}
	for _, bad := range []string{"mount", "umount2", "unshare", "setns", "kexec_load", "init_module", "reboot", "bpf", "keyctl", "add_key", "pivot_root", "swapon", "settimeofday", "perf_event_open", "userfaultfd", "open_by_handle_at"} {
		if allowedSet[bad] {
			t.Errorf("seccomp allows %s", bad)
		}
	}
	for _, good := range []string{"read", "write", "execve", "clone", "futex", "epoll_pwait", "socket"} {
		if !allowedSet[good] {
			t.Errorf("seccomp denies %s", good)
		}
	}
}
