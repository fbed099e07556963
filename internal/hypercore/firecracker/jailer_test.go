package firecracker

import (
	"reflect"
	"strings"
	"testing"
)

func TestJailArgs(t *testing.T) {
	j := Jail{
		ID: "lease-42", Firecracker: "/usr/bin/firecracker", UID: 123, GID: 100,
		NetNS: "/var/run/netns/lease-42", CgroupVersion: 2,
		Cgroups:      []string{"cpu.max=50000 100000", "memory.max=268435456"},
		ParentCgroup: "vimana-fc", NewPidNS: true, Daemonize: true,
	}
	got, err := j.Args()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--id", "lease-42", "--exec-file", "/usr/bin/firecracker", "--uid", "123", "--gid", "100",
		"--chroot-base-dir", "/srv/jailer", "--netns", "/var/run/netns/lease-42", "--cgroup-version", "2",
		"--cgroup", "cpu.max=50000 100000", "--cgroup", "memory.max=268435456", "--parent-cgroup", "vimana-fc",
		"--new-pid-ns", "--daemonize", "--", "--api-sock", "/run/firecracker.socket"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Args\n got %q\nwant %q", got, want)
	}
	if s := j.SocketPath(); s != "/srv/jailer/firecracker/lease-42/root/run/firecracker.socket" {
		t.Errorf("SocketPath = %s", s)
	}
}

func TestJailArgsRefuses(t *testing.T) {
	ok := Jail{ID: "a", Firecracker: "/fc", UID: 1, GID: 1}
	for name, mut := range map[string]func(*Jail){
		"bad id":        func(j *Jail) { j.ID = "a/b" },
		"long id":       func(j *Jail) { j.ID = strings.Repeat("a", 65) },
		"relative exec": func(j *Jail) { j.Firecracker = "firecracker" },
		"root":          func(j *Jail) { j.UID = 0 },
		"cgroup v3":     func(j *Jail) { j.CgroupVersion = 3 },
	} {
		j := ok
		mut(&j)
		if _, err := j.Args(); err == nil {
			t.Errorf("%s: Args accepted %+v", name, j)
		}
	}
	if _, err := ok.Args(); err != nil {
		t.Fatal(err)
	}
}
