package image

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Override is what hac.toml's [image] section may change.
type Override struct {
	Command []string // replaces Entrypoint (and drops Cmd unless Args is set)
	Args    []string // replaces Cmd
	Env     []string // KEY=VALUE, added to and overriding the image's
	Workdir string
	User    string
}

// Process merges the image config with o using Docker's rules: command
// replaces the entrypoint and clears the image's cmd; args replace the cmd;
// env is merged with o winning (image order kept, new keys appended);
// workdir and user replace. It fails with ErrInvalid when nothing is left
// to run, or when the user is a name ("root" aside): names need the
// image's /etc/passwd, which Image.Process reads.
func (c Config) Process(o Override) (hypercore.Process, error) {
	entry, cmd := c.Entrypoint, c.Cmd
	if len(o.Command) > 0 {
		entry, cmd = o.Command, nil
	}
	if len(o.Args) > 0 {
		cmd = o.Args
	}
	args := append(append([]string(nil), entry...), cmd...)
	if len(args) == 0 {
		return hypercore.Process{}, fmt.Errorf("%w: the image has no entrypoint or cmd and no command is given", hypercore.ErrInvalid)
	}
	p := hypercore.Process{Args: args, Env: mergeEnv(c.Env, o.Env), Cwd: c.WorkingDir, User: c.User}
	if o.Workdir != "" {
		p.Cwd = o.Workdir
	}
	if o.User != "" {
		p.User = o.User
	}
	if p.User == "root" {
		p.User = "0:0"
	}
	if p.User != "" {
		if err := numericUser(p.User); err != nil {
			return hypercore.Process{}, err
		}
	}
	return p, nil
}

// Process is Config.Process, with a user or group name resolved through
// the image's own /etc/passwd and /etc/group (opened without leaving the
// rootfs, whatever symlinks the image holds).
func (img *Image) Process(o Override) (hypercore.Process, error) {
	c := img.Config
	if o.User != "" {
		c.User, o.User = o.User, ""
	}
	if c.User != "" && c.User != "root" && numericUser(c.User) != nil {
		u, err := lookupUser(img.RootFS, c.User)
		if err != nil {
			return hypercore.Process{}, fmt.Errorf("image %s: %w", img.Digest, err)
		}
		c.User = u
	}
	return c.Process(o)
}

// lookupUser maps "name[:group]" to "uid:gid" using the rootfs's files.
func lookupUser(rootfs, spec string) (string, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, gid := user, ""
	if numericUser(user) != nil {
		f, ok := findEntry(rootfs, "etc/passwd", user)
		if !ok || len(f) < 4 {
			return "", fmt.Errorf("%w: user %q is not in the image's /etc/passwd", hypercore.ErrInvalid, user)
		}
		uid, gid = f[2], f[3]
	}
	if hasGroup {
		gid = group
		if numericUser(group) != nil {
			f, ok := findEntry(rootfs, "etc/group", group)
			if !ok || len(f) < 3 {
				return "", fmt.Errorf("%w: group %q is not in the image's /etc/group", hypercore.ErrInvalid, group)
			}
			gid = f[2]
		}
	}
	if gid == "" {
		return uid, nil
	}
	return uid + ":" + gid, nil
}

// findEntry returns the colon-separated fields of the line naming name.
func findEntry(rootfs, file, name string) ([]string, bool) {
	p, err := securejoin.SecureJoin(rootfs, file)
	if err != nil {
		return nil, false
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if fields[0] == name {
			return fields, true
		}
	}
	return nil, false
}

// mergeEnv keeps base's order, replacing values over wins, then appends
// over's new keys.
func mergeEnv(base, over []string) []string {
	idx := map[string]int{}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range append(append([]string(nil), base...), over...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// numericUser accepts "uid" or "uid:gid".
func numericUser(u string) error {
	parts := strings.Split(u, ":")
	if len(parts) > 2 {
		return fmt.Errorf("%w: user %q: want uid[:gid]", hypercore.ErrInvalid, u)
	}
	for _, part := range parts {
		if part == "" || strings.Trim(part, "0123456789") != "" {
			return fmt.Errorf("%w: user %q: only a numeric uid[:gid] is supported here", hypercore.ErrInvalid, u)
		}
	}
	return nil
}
