package image

import (
	"fmt"
	"strings"

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
// env is merged with o winning; workdir and user replace. It fails when
// nothing is left to run.
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
		return hypercore.Process{}, fmt.Errorf("%w: the image has no entrypoint or cmd and hac.toml sets no [image] command", hypercore.ErrInvalid)
	}
	p := hypercore.Process{Args: args, Env: mergeEnv(c.Env, o.Env), Cwd: c.WorkingDir, User: c.User}
	if o.Workdir != "" {
		p.Cwd = o.Workdir
	}
	if o.User != "" {
		p.User = o.User
	}
	if p.User != "" {
		if err := numericUser(p.User); err != nil {
			return hypercore.Process{}, err
		}
	}
	return p, nil
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

// numericUser: user names would need the image's /etc/passwd; "root" is
// the one name mapped here, others must be numeric.
func numericUser(u string) error {
	for _, part := range strings.Split(u, ":") {
		if part == "" {
			return fmt.Errorf("%w: user %q", hypercore.ErrInvalid, u)
		}
		for _, r := range part {
			if r < '0' || r > '9' {
				return fmt.Errorf("%w: user %q: only numeric uid[:gid] is supported", hypercore.ErrInvalid, u)
			}
		}
	}
	return nil
}
