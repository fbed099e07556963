// Package chainnet is the objects.Network of storage providers registered
// on chain, named "chain" (`network = "chain"` in <home>/store/config.toml).
// Place picks k+m distinct active providers offering storage (honouring a
// bucket's regions), Resolve turns provider addresses — the names a
// storage.Object keeps — into piecestore.Clients, and BeginPut/Commit bind
// one object's uploads to a deal id and open the storage.deal on chain
// once every piece is stored; CloseDeal ends a deal early (storage.close)
// when the object client deletes or replaces the last entry naming it;
// RenewDeal extends one (storage.renew, renew.go).
// IndexStore keeps the owner's sealed bucket index on the network too:
// blobs stored like objects, a storage.index pointer per blob on chain.
//
// chainnet is a client: it imports chain (queries, signed txs), market
// (types), storage, storage/objects, storage/piecestore and wallet; never
// node, api, provider or s3.
package chainnet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Name is the network's registry name.
const Name = "chain"

// Option keys in [network_options] and their defaults.
const (
	OptRPC        = "rpc"           // chain RPC URL (required)
	OptPrice      = "price_per_mib" // uvis per started MiB of piece per block; default: the highest ask among the chosen providers (≥ 1)
	OptDealBlocks = "deal_blocks"   // deal length in blocks; default DefaultDealBlocks
	OptRepairAt   = "repair_at"     // flag a segment for repair below this many healthy pieces; default 0 = k+m
	OptTxTimeout  = "tx_timeout"    // how long to wait for the deal's block; default 1m
	OptIndex      = "index"         // "network" (default): the bucket index is replicated to the network; "local": only under --home
	OptIndexDelay = "index_delay"   // how long a server (the S3 gateway) may hold an index change back; default 5s

	DefaultDealBlocks = 864_000 // 10 days of 1 s blocks (1 day on a 100 ms devnet)
)

// Chain is what the network asks of the chain (chain.Client; a fake in tests).
type Chain interface {
	Providers(ctx context.Context) ([]market.Provider, error)
	Height(ctx context.Context) (int64, error)
	Deal(ctx context.Context, id string) (market.Deal, error)
}

// Network is the chain-backed objects.Network of one owner.
type Network struct {
	Chain      Chain
	Key        *wallet.Key // the owner: signs uploads and deals
	Price      uint64      // 0: the chosen providers' highest ask (≥ 1)
	DealBlocks int64
	RepairAt   uint32
	// Submit sends a storage.deal signed by Key and waits for its block
	// (chain.Signer.SubmitAndWait in production).
	Submit func(ctx context.Context, msg *market.StorageDeal) error
	// SubmitClose sends a storage.close signed by Key and waits for its
	// block (chain.Signer.SubmitAndWait in production).
	SubmitClose func(ctx context.Context, msg *market.CloseStorageDeal) error
	// SubmitRenew sends a storage.renew signed by Key and waits for its
	// block (renew.go).
	SubmitRenew func(ctx context.Context, msg *market.RenewStorageDeal) error
	HTTP        *http.Client // piece uploads and reads
	// Index, when set, keeps the owner's bucket index on the network too
	// (IndexStore).
	Index *IndexConfig

	mu      sync.Mutex
	cached  []market.Provider
	cacheAt time.Time
}

var (
	_ objects.Network     = (*Network)(nil)
	_ objects.DealNetwork = (*Network)(nil)
	_ objects.Locator     = (*Network)(nil)
	_ objects.DealCloser  = (*Network)(nil)

	_ objects.IndexNetwork = (*Network)(nil)
)

// IndexConfig is what a Network's IndexStore is made of (IndexStore's
// fields of the same names).
type IndexConfig struct {
	Chain  IndexChain
	Submit func(ctx context.Context, m *market.SetIndex) error
	Master []byte
	Params storage.Params
	Delay  time.Duration
}

// IndexStore implements objects.IndexNetwork: local (the index directory)
// becomes the cache of an IndexStore, or stays the index when the
// network keeps none (`index = "local"`).
func (n *Network) IndexStore(local index.Store) (index.Store, error) {
	if n.Index == nil {
		return local, nil
	}
	s := &IndexStore{Local: local, Net: n, Chain: n.Index.Chain, Submit: n.Index.Submit, Master: n.Index.Master,
		Params: n.Index.Params, Delay: n.Index.Delay}
	if s.Chain == nil || s.Submit == nil || len(s.Master) != storage.KeySize {
		return nil, fmt.Errorf("chainnet: the replicated index needs a chain, a signer and the objects key")
	}
	return s, nil
}

// providersTTL bounds how stale the provider list a read resolves
// against may be: a read resolves once per segment, and one chain query
// per segment would dominate small reads.
const providersTTL = 5 * time.Second

func init() {
	objects.RegisterNetwork(Name, Open)
}

// Open is the network for cfg's [network_options] and the owner whose
// wallet seed is seed.
func Open(_ string, cfg objects.Config, seed []byte) (objects.Network, error) {
	o := cfg.NetworkOptions
	for k := range o {
		switch k {
		case OptRPC, OptPrice, OptDealBlocks, OptRepairAt, OptTxTimeout, OptIndex, OptIndexDelay:
		default:
			return nil, fmt.Errorf("store config: network_options.%s: unknown for network %q", k, Name)
		}
	}
	rpc := o[OptRPC]
	if rpc == "" {
		return nil, fmt.Errorf("store config: network_options.%s: network %q needs the chain's RPC URL", OptRPC, Name)
	}
	key, err := wallet.FromSeed(seed)
	if err != nil {
		return nil, err
	}
	num := func(name string, def int64) (int64, error) {
		s, ok := o[name]
		if !ok {
			return def, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("store config: network_options.%s %q: want a non-negative integer", name, s)
		}
		return n, nil
	}
	price, err := num(OptPrice, 0)
	if err != nil {
		return nil, err
	}
	blocks, err := num(OptDealBlocks, DefaultDealBlocks)
	if err != nil {
		return nil, err
	}
	if blocks == 0 {
		return nil, fmt.Errorf("store config: network_options.%s: want > 0", OptDealBlocks)
	}
	repairAt, err := num(OptRepairAt, 0)
	if err != nil {
		return nil, err
	}
	timeout := time.Minute
	if s, ok := o[OptTxTimeout]; ok {
		if timeout, err = time.ParseDuration(s); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("store config: network_options.%s %q: want a positive duration", OptTxTimeout, s)
		}
	}
	delay := 5 * time.Second
	if s, ok := o[OptIndexDelay]; ok {
		if delay, err = time.ParseDuration(s); err != nil || delay < 0 {
			return nil, fmt.Errorf("store config: network_options.%s %q: want a duration ≥ 0", OptIndexDelay, s)
		}
	}
	replicate := true
	switch o[OptIndex] {
	case "", "network":
	case "local":
		replicate = false
	default:
		return nil, fmt.Errorf("store config: network_options.%s %q: want \"network\" or \"local\"", OptIndex, o[OptIndex])
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}}
	cc := &chain.Client{RPC: rpc}
	signer := &chain.Signer{C: cc, Key: key}
	n := &Network{Chain: cc, Key: key, Price: uint64(price), DealBlocks: blocks, RepairAt: uint32(repairAt), HTTP: hc,
		Submit: func(ctx context.Context, msg *market.StorageDeal) error {
			_, _, err := signer.SubmitAndWait(ctx, market.TypeStorageDeal, msg, timeout)
			return err
		},
		SubmitClose: func(ctx context.Context, msg *market.CloseStorageDeal) error {
			_, _, err := signer.SubmitAndWait(ctx, market.TypeCloseStorageDeal, msg, timeout)
			return err
		},
		SubmitRenew: func(ctx context.Context, msg *market.RenewStorageDeal) error {
			_, _, err := signer.SubmitAndWait(ctx, market.TypeRenewStorageDeal, msg, timeout)
			return err
		}}
	if replicate {
		master, err := storage.MasterKey(seed, "objects")
		if err != nil {
			return nil, err
		}
		p := cfg.Params()
		p.SegmentSize = IndexSegmentSize
		n.Index = &IndexConfig{Chain: cc, Master: master, Params: p, Delay: delay,
			Submit: func(ctx context.Context, msg *market.SetIndex) error {
				_, _, err := signer.SubmitAndWait(ctx, market.TypeSetIndex, msg, timeout)
				var te *chain.TxError
				if errors.As(err, &te) && te.Code == market.CodeState {
					return fmt.Errorf("%w: %v", ErrStale, err)
				}
				return err
			}}
	}
	return n, nil
}

// providers is the chain's provider list, at most providersTTL old
// (fresh when fresh is set: placement must not pick a provider that left).
func (n *Network) providers(ctx context.Context, fresh bool) ([]market.Provider, error) {
	n.mu.Lock()
	if !fresh && n.cached != nil && time.Since(n.cacheAt) < providersTTL {
		ps := n.cached
		n.mu.Unlock()
		return ps, nil
	}
	n.mu.Unlock()
	ps, err := n.Chain.Providers(ctx)
	if err != nil {
		return nil, fmt.Errorf("chainnet: listing providers: %w", err)
	}
	n.mu.Lock()
	n.cached, n.cacheAt = ps, time.Now()
	n.mu.Unlock()
	return ps, nil
}

// Place implements objects.Network. Pieces put through Place alone are
// bound to a deal that is never opened, so providers' GC drops them;
// objects.Client uses BeginPut.
func (n *Network) Place(ctx context.Context, cfg index.BucketConfig) ([]storage.PieceStore, error) {
	up, err := n.BeginPut(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return up.Stores, nil
}
