package hypercore

import (
	"context"
	"io"
	"strings"
	"time"
)

// Prefixed returns p with every machine id prefixed, so several nodes on
// one host (a devnet) can run machines with the same ids — lease IDs — in
// the host-wide namespaces a provider uses (cgroups, firewall tags,
// addresses). List returns only this prefix's machines, unprefixed. An
// empty prefix returns p itself.
func Prefixed(p Provider, prefix string) Provider {
	if prefix == "" {
		return p
	}
	return prefixed{p: p, pre: prefix}
}

type prefixed struct {
	p   Provider
	pre string
}

func (x prefixed) Name() string                               { return x.p.Name() }
func (x prefixed) Probe(ctx context.Context) error            { return x.p.Probe(ctx) }
func (x prefixed) Capabilities() Capabilities                 { return x.p.Capabilities() }
func (x prefixed) Start(ctx context.Context, id string) error { return x.p.Start(ctx, x.pre+id) }
func (x prefixed) Delete(ctx context.Context, id string) error {
	return x.p.Delete(ctx, x.pre+id)
}

func (x prefixed) Create(ctx context.Context, id string, spec MachineSpec) error {
	if err := ValidID(x.pre + id); err != nil {
		return err
	}
	return x.p.Create(ctx, x.pre+id, spec)
}

func (x prefixed) Stop(ctx context.Context, id string, grace time.Duration) error {
	return x.p.Stop(ctx, x.pre+id, grace)
}

func (x prefixed) State(ctx context.Context, id string) (Status, error) {
	st, err := x.p.State(ctx, x.pre+id)
	st.ID = strings.TrimPrefix(st.ID, x.pre)
	return st, err
}

func (x prefixed) Wait(ctx context.Context, id string) (ExitStatus, error) {
	return x.p.Wait(ctx, x.pre+id)
}

func (x prefixed) List(ctx context.Context) ([]string, error) {
	all, err := x.p.List(ctx)
	var out []string
	for _, id := range all {
		if rest, ok := strings.CutPrefix(id, x.pre); ok {
			out = append(out, rest)
		}
	}
	return out, err
}

func (x prefixed) Exec(ctx context.Context, id string, req ExecRequest) (int, error) {
	return x.p.Exec(ctx, x.pre+id, req)
}

func (x prefixed) Logs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error) {
	return x.p.Logs(ctx, x.pre+id, opts)
}

func (x prefixed) Stats(ctx context.Context, id string) (Stats, error) {
	return x.p.Stats(ctx, x.pre+id)
}
