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
// read. The built-in "local" network is DirStores under --home;
// storage/chainnet registers "chain", the providers on chain.
type Network interface {
	// Place returns at least k+m distinct stores for a put into a bucket
	// with cfg (allowed/denied regions).
	Place(ctx context.Context, cfg index.BucketConfig) ([]storage.PieceStore, error)
	// Resolve returns the stores it knows among names (missing ones are
	// simply absent: a read needs only k).
	Resolve(ctx context.Context, names []string) (map[string]storage.PieceStore, error)
}

// DealNetwork is a Network whose providers keep pieces under a storage
// deal per object (optional: objects.Client finds it by type assertion).
// BeginPut picks the stores for one object; the client stores every piece
// first and only then calls Commit, so a crash mid-upload never leaves a
// deal pointing at missing pieces (the uploaded pieces of an uncommitted
// object are the providers' to drop). Commit returns the deal's id, which
// the client records in the object (storage.Object.Deal). An inline
// object has no pieces and is never committed.
type DealNetwork interface {
	Network
	BeginPut(ctx context.Context, cfg index.BucketConfig) (*Upload, error)
}

// Upload is one object's placement on a DealNetwork.
type Upload struct {
	Stores []storage.PieceStore
	// Commit opens the deal for obj, whose pieces are all stored.
	Commit func(ctx context.Context, obj *storage.Object) (deal string, err error)
}

// DealCloser is a DealNetwork that can end a deal before its expiry
// (optional, found by type assertion): the client closes an object's
// deals when it deletes or replaces the object and no other index entry
// (a copy) names them. Networks without deals have nothing to close.
type DealCloser interface {
	// CloseDeal ends deal now; the owner gets back the escrow not yet
	// earned. A deal that had already ended is not an error: the result
	// then has its state and no refund.
	CloseDeal(ctx context.Context, deal string) (ClosedDeal, error)
}

// ClosedDeal is what closing a deal did.
type ClosedDeal struct {
	Deal   string `json:"deal"`
	State  string `json:"state"`  // "closed", or how it had already ended ("expired")
	Refund uint64 `json:"refund"` // uvis of escrow returned to the owner by this close
}

// Locator is a network that can say where an object's pieces are now
// (optional): repairs move pieces to other providers after the index
// entry was written. The client asks only when a read of an object with a
// deal finds fewer than k pieces where the entry says they are.
type Locator interface {
	// Locate returns obj with Stores and Placement as its deal has them.
	Locate(ctx context.Context, obj *storage.Object) (*storage.Object, error)
}

// IndexNetwork is a network that also keeps the owner's index (optional,
// found by type assertion in Open): IndexStore wraps the local index
// directory, which stays the cache every read is served from, with a
// store that copies each blob to the network, so a new home with the
// same wallet finds every bucket. Such a store may hold writes back for
// a while (index.Flusher); Client.Close flushes them.
type IndexNetwork interface {
	IndexStore(local index.Store) (index.Store, error)
}

// Close flushes index writes the index's store still holds back (a
// network-replicated index); call it before the process exits.
func (c *Client) Close(ctx context.Context) error { return c.Index.Flush(ctx) }

// NetworkFactory opens a network for a home directory and config; seed is
// the owner's wallet seed, for networks that sign (uploads, deals).
type NetworkFactory func(home string, cfg Config, seed []byte) (Network, error)

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

// OpenNetwork opens cfg.Network for the owner whose wallet seed is seed.
func OpenNetwork(home string, cfg Config, seed []byte) (Network, error) {
	networksMu.Lock()
	f, ok := networks[cfg.Network]
	networksMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("objects: unknown network %q (have %v)", cfg.Network, Networks())
	}
	return f(home, cfg, seed)
}

func init() {
	RegisterNetwork("local", func(home string, cfg Config, _ []byte) (Network, error) {
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
