package objects

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

// Network is where pieces go: it picks k+m distinct piece stores for a
// bucket's new data (honouring its regions) and finds stores by name to
// read. The built-in "local" network is DirStores under --home; the
// storenet branch registers one backed by chain-discovered providers.
type Network interface {
	// Place returns at least k+m distinct stores for a put into a bucket
	// with cfg (allowed/denied regions).
	Place(ctx context.Context, cfg index.BucketConfig) ([]storage.PieceStore, error)
	// Resolve returns the stores it knows among names (missing ones are
	// simply absent: a read needs only k).
	Resolve(ctx context.Context, names []string) (map[string]storage.PieceStore, error)
}

// NetworkFactory opens a network for a home directory and config.
type NetworkFactory func(home string, cfg Config) (Network, error)

var (
	networksMu sync.Mutex
	networks   = map[string]NetworkFactory{}
)

// RegisterNetwork makes a network available by name (config key
// `network`). Empty or duplicate names panic: registration happens at init.
func RegisterNetwork(name string, f NetworkFactory) {
	networksMu.Lock()
	defer networksMu.Unlock()
	if name == "" || f == nil {
		panic("objects: RegisterNetwork with empty name or nil factory")
	}
	if _, dup := networks[name]; dup {
		panic("objects: network " + name + " registered twice")
	}
	networks[name] = f
}

// RegisterNetworkForTest registers f under name for the test's duration.
func RegisterNetworkForTest(t testing.TB, name string, f NetworkFactory) {
	networksMu.Lock()
	prev, had := networks[name]
	networks[name] = f
	networksMu.Unlock()
	t.Cleanup(func() {
		networksMu.Lock()
		defer networksMu.Unlock()
		if had {
			networks[name] = prev
		} else {
			delete(networks, name)
		}
	})
}

// Networks lists the registered names.
func Networks() []string {
	networksMu.Lock()
	defer networksMu.Unlock()
	var ns []string
	for n := range networks {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// OpenNetwork opens cfg.Network.
func OpenNetwork(home string, cfg Config) (Network, error) {
	networksMu.Lock()
	f, ok := networks[cfg.Network]
	networksMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("objects: unknown network %q (have %v)", cfg.Network, Networks())
	}
	return f(home, cfg)
}

func init() {
	RegisterNetwork("local", func(home string, cfg Config) (Network, error) {
		return NewLocalNetwork(filepath.Join(home, "store", "pieces"), cfg.LocalStores)
	})
}

// StaticNetwork is a fixed list of stores (the local network, tests).
// Regions are ignored: local stores have none.
type StaticNetwork struct{ Stores []storage.PieceStore }

var _ Network = (*StaticNetwork)(nil)

// NewLocalNetwork is n DirStores named local-0… under dir: no devnet
// needed, and every piece of a segment still in a distinct directory.
func NewLocalNetwork(dir string, n int) (*StaticNetwork, error) {
	if n < 1 {
		return nil, fmt.Errorf("objects: local network needs ≥ 1 store, have %d", n)
	}
	net := &StaticNetwork{}
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("local-%d", i))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		net.Stores = append(net.Stores, &storage.DirStore{Label: fmt.Sprintf("local-%d", i), Dir: d})
	}
	return net, nil
}

// Place implements Network.
func (s *StaticNetwork) Place(_ context.Context, cfg index.BucketConfig) ([]storage.PieceStore, error) {
	if need := cfg.Params.K + cfg.Params.M; len(s.Stores) < need {
		return nil, fmt.Errorf("objects: %d piece stores for %d+%d pieces (set local_stores ≥ %d or lower k/m)", len(s.Stores), cfg.Params.K, cfg.Params.M, need)
	}
	return s.Stores, nil
}

// Resolve implements Network.
func (s *StaticNetwork) Resolve(_ context.Context, names []string) (map[string]storage.PieceStore, error) {
	m := make(map[string]storage.PieceStore, len(s.Stores))
	for _, st := range s.Stores {
		m[st.Name()] = st
	}
	return m, nil
}
