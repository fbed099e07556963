package firecracker

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
)

// Jail describes one jailed Firecracker process. The jailer creates
// <ChrootBase>/<basename(Firecracker)>/<ID>/root, moves into it (with the
// cgroups, network namespace and uid/gid below), and execs firecracker,
// whose API socket is then <chroot>/root/<APISock>.
type Jail struct {
	ID          string // 1-64 of [A-Za-z0-9-]
	Firecracker string // the firecracker binary (absolute)
	UID, GID    int    // unprivileged ids firecracker runs as
	ChrootBase  string // default /srv/jailer
	NetNS       string // network namespace path to join, optional
	// CgroupVersion is 1 or 2; Cgroups are "file=value" settings such as
	// "cpu.max=50000 100000" or "memory.max=268435456".
	CgroupVersion int
	Cgroups       []string
	ParentCgroup  string // optional
	NewPidNS      bool
	Daemonize     bool
	APISock       string // inside the chroot; default /run/firecracker.socket
}

var jailID = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// Args returns the jailer's arguments (without the jailer binary itself).
func (j Jail) Args() ([]string, error) {
	if !jailID.MatchString(j.ID) {
		return nil, fmt.Errorf("jailer id %q: want 1-64 of [A-Za-z0-9-]", j.ID)
	}
	if !filepath.IsAbs(j.Firecracker) {
		return nil, fmt.Errorf("jailer exec file %q: want an absolute path", j.Firecracker)
	}
	if j.UID <= 0 || j.GID <= 0 {
		return nil, fmt.Errorf("jailer uid/gid %d/%d: firecracker must not run as root", j.UID, j.GID)
	}
	args := []string{"--id", j.ID, "--exec-file", j.Firecracker,
		"--uid", strconv.Itoa(j.UID), "--gid", strconv.Itoa(j.GID)}
	base := j.ChrootBase
	if base == "" {
		base = "/srv/jailer"
	}
	args = append(args, "--chroot-base-dir", base)
	if j.NetNS != "" {
		args = append(args, "--netns", j.NetNS)
	}
	switch j.CgroupVersion {
	case 0:
	case 1, 2:
		args = append(args, "--cgroup-version", strconv.Itoa(j.CgroupVersion))
	default:
		return nil, fmt.Errorf("jailer cgroup version %d: want 1 or 2", j.CgroupVersion)
	}
	for _, c := range j.Cgroups {
		args = append(args, "--cgroup", c)
	}
	if j.ParentCgroup != "" {
		args = append(args, "--parent-cgroup", j.ParentCgroup)
	}
	if j.NewPidNS {
		args = append(args, "--new-pid-ns")
	}
	if j.Daemonize {
		args = append(args, "--daemonize")
	}
	sock := j.APISock
	if sock == "" {
		sock = "/run/firecracker.socket"
	}
	return append(args, "--", "--api-sock", sock), nil
}

// ChrootDir is the jail's root directory on the host.
func (j Jail) ChrootDir() string {
	base := j.ChrootBase
	if base == "" {
		base = "/srv/jailer"
	}
	return filepath.Join(base, filepath.Base(j.Firecracker), j.ID, "root")
}

// SocketPath is the API socket as seen from the host.
func (j Jail) SocketPath() string {
	sock := j.APISock
	if sock == "" {
		sock = "/run/firecracker.socket"
	}
	return filepath.Join(j.ChrootDir(), sock)
}
