package hypercore

import (
	"fmt"
	"sort"
	"sync"
	"testing"
)

// Factory builds a provider whose state lives under dir.
type Factory func(dir string) (Provider, error)

var (
	regMu    sync.RWMutex
	registry = map[Isolation]Factory{}
)

// Register adds a provider factory for an isolation level. It panics on an
// empty or duplicate name: registration happens at init from one builtins
// list and a mistake there must not go unnoticed.
func Register(iso Isolation, f Factory) {
	if iso == "" || f == nil {
		panic("hypercore: Register with empty isolation or nil factory")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[iso]; dup {
		panic(fmt.Sprintf("hypercore: provider %q registered twice", iso))
	}
	registry[iso] = f
}

// RegisterForTest swaps in a factory for the length of a test.
func RegisterForTest(t testing.TB, iso Isolation, f Factory) {
	t.Helper()
	regMu.Lock()
	old, had := registry[iso]
	registry[iso] = f
	regMu.Unlock()
	t.Cleanup(func() {
		regMu.Lock()
		defer regMu.Unlock()
		if had {
			registry[iso] = old
		} else {
			delete(registry, iso)
		}
	})
}

// Lookup returns the factory for iso.
func Lookup(iso Isolation) (Factory, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := registry[iso]
	if !ok {
		return nil, fmt.Errorf("%w: no provider for isolation %q on this node", ErrUnavailable, iso)
	}
	return f, nil
}

// Registered lists the registered isolation levels, sorted.
func Registered() []Isolation {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Isolation, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
