package agent

import "golang.org/x/sys/unix"

type unixStatfs = unix.Statfs_t

func statfs(path string, st *unix.Statfs_t) error { return unix.Statfs(path, st) }

func sethostname(name string) error { return unix.Sethostname([]byte(name)) }
