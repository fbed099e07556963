package resources

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/fake"
)

// hangingProbe is a provider whose Probe never returns on its own.
type hangingProbe struct{ *fake.Provider }

func (hangingProbe) Probe(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

func TestIsolation(t *testing.T) {
	hypercore.RegisterForTest(t, hypercore.IsolationSandbox, fake.Factory)
	hypercore.RegisterForTest(t, hypercore.IsolationGVisor, func(string) (hypercore.Provider, error) {
		p := fake.New()
		p.Isolation = hypercore.IsolationGVisor
		p.ProbeErr = fmt.Errorf("%w: runsc not found in PATH", hypercore.ErrUnavailable)
		return p, nil
	})
	// microvm and firecracker are left unregistered; two extra levels show ordering,
	// a failing factory and a probe that outlives the deadline.
	hypercore.RegisterForTest(t, "zz-broken", func(string) (hypercore.Provider, error) {
		return nil, fmt.Errorf("%w: state dir is read-only", hypercore.ErrPermission)
	})
	hypercore.RegisterForTest(t, "aa-hangs", func(string) (hypercore.Provider, error) {
		return hangingProbe{fake.New()}, nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	levels := Isolation(ctx, t.TempDir())

	type row struct {
		name      hypercore.Isolation
		built     bool
		available bool
		reason    string
		caps      bool
	}
	want := []row{
		{"sandbox", true, true, "", true},
		{"gvisor", true, false, "unavailable: runsc not found in PATH", true},
		{"microvm", false, false, "not built into this binary", false},
		{"firecracker", false, false, "not built into this binary", false},
		{"aa-hangs", true, false, "probe did not finish", true},
		{"zz-broken", true, false, "provider setup failed: permission denied: state dir is read-only", false},
	}
	if len(levels) != len(want) {
		t.Fatalf("got %d levels %+v, want %d", len(levels), levels, len(want))
	}
	for i, w := range want {
		lv := levels[i]
		if lv.Name != w.name || lv.Built != w.built || lv.Available != w.available ||
			!strings.Contains(lv.Reason, w.reason) || (w.reason == "") != (lv.Reason == "") || (lv.Capabilities != nil) != w.caps {
			t.Errorf("level %d = %+v, want %+v", i, lv, w)
		}
	}
	if levels[1].Capabilities.Isolation != hypercore.IsolationGVisor {
		t.Errorf("gvisor capabilities = %+v", levels[1].Capabilities)
	}

	if err := Offers(levels, hypercore.IsolationSandbox); err != nil {
		t.Errorf("Offers(sandbox) = %v", err)
	}
	for iso, msg := range map[hypercore.Isolation]string{
		"gvisor":  `isolation "gvisor": unavailable on this node: unavailable: runsc not found`,
		"microvm": "not built into this binary",
		"hyperv":  "unknown level",
	} {
		err := Offers(levels, iso)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Offers(%s) = %v, want %q", iso, err, msg)
		}
		if iso != "hyperv" && !errors.Is(err, hypercore.ErrUnavailable) {
			t.Errorf("Offers(%s) = %v, want ErrUnavailable", iso, err)
		}
	}
}
