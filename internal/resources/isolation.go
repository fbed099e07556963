package resources

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// IsolationLevel says whether this node can run spacecores at one isolation
// level, and if not, why.
type IsolationLevel struct {
	Name hypercore.Isolation `json:"name"`
	// Built is true when a provider for the level is compiled into this
	// binary (registered with hypercore).
	Built bool `json:"built"`
	// Available is true when the provider's Probe passed on this host.
	Available bool `json:"available"`
	// Reason is why the level is not available; "" when it is.
	Reason string `json:"reason"`
	// Capabilities are the provider's; null when it is not built.
	Capabilities *hypercore.Capabilities `json:"capabilities"`
}

// knownLevels are reported even when not built, weakest first.
var knownLevels = []hypercore.Isolation{hypercore.IsolationSandbox, hypercore.IsolationGVisor, hypercore.IsolationMicroVM, hypercore.IsolationFirecracker}

// ProbeTimeout bounds one provider's Probe (the microvm probe boots a
// guest, which takes seconds under TCG).
const ProbeTimeout = 60 * time.Second

// Isolation probes every registered provider, each with its state under
// dir/<level>, and lists the known levels weakest first, then any other
// registered ones by name. Levels not built into this binary are listed with
// that reason. Probes run concurrently; a probe that outlives ProbeTimeout
// or ctx makes its level unavailable.
func Isolation(ctx context.Context, dir string) []IsolationLevel {
	names := slices.Clone(knownLevels)
	for _, iso := range hypercore.Registered() {
		if !slices.Contains(names, iso) {
			names = append(names, iso)
		}
	}
	out := make([]IsolationLevel, len(names))
	var wg sync.WaitGroup
	for i, iso := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = probeLevel(ctx, dir, iso)
		}()
	}
	wg.Wait()
	return out
}

func probeLevel(ctx context.Context, dir string, iso hypercore.Isolation) IsolationLevel {
	lv := IsolationLevel{Name: iso}
	factory, err := hypercore.Lookup(iso)
	if err != nil {
		lv.Reason = "not built into this binary"
		return lv
	}
	lv.Built = true
	p, err := factory(filepath.Join(dir, string(iso)))
	if err != nil {
		lv.Reason = fmt.Sprintf("provider setup failed: %v", err)
		return lv
	}
	caps := p.Capabilities()
	lv.Capabilities = &caps
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Probe(ctx) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("probe did not finish: %w", ctx.Err())
	}
	if err != nil {
		lv.Reason = err.Error()
		return lv
	}
	lv.Available = true
	return lv
}

// Offers returns nil when levels say iso is available, else an error
// wrapping hypercore.ErrUnavailable with the reason, for refusing a
// spacecore that asks for a level this node lacks.
func Offers(levels []IsolationLevel, iso hypercore.Isolation) error {
	for _, lv := range levels {
		if lv.Name != iso {
			continue
		}
		if lv.Available {
			return nil
		}
		return fmt.Errorf("isolation %q: %w on this node: %s", iso, hypercore.ErrUnavailable, lv.Reason)
	}
	if !iso.Valid() {
		return fmt.Errorf("isolation %q: %w: unknown level", iso, hypercore.ErrInvalid)
	}
	return fmt.Errorf("isolation %q: %w on this node: not built into this binary", iso, hypercore.ErrUnavailable)
}
