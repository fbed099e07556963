package chainnet

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// ErrProviders is a put the chain has too few eligible providers for.
var ErrProviders = errors.New("not enough storage providers")

// Pick chooses k+m distinct providers for a bucket with cfg: active,
// offering storage with bytes free, asking at most maxPrice per MiB (0:
// any), in an allowed region (if the bucket lists any; a provider without
// a region is then not eligible) and in no denied one. The most free
// storage goes first (ties by address), which spreads deals across
// providers and keeps the choice deterministic.
func Pick(provs []market.Provider, cfg index.BucketConfig, maxPrice uint64) ([]market.Provider, error) {
	need := cfg.Params.K + cfg.Params.M
	var ok []market.Provider
	skipped := map[string]int{}
	for _, p := range provs {
		r := p.Attributes.Region
		switch {
		case p.Status != market.ProviderActive:
			skipped["not active"]++
		case p.Storage == 0 || p.StorageUsed >= p.Storage:
			skipped["no free storage"]++
		case maxPrice > 0 && p.Prices.StorageMiB > maxPrice:
			skipped["price above price_per_mib"]++
		case len(cfg.AllowedRegions) > 0 && !slices.Contains(cfg.AllowedRegions, r):
			skipped["region not allowed"]++
		case slices.Contains(cfg.DeniedRegions, r):
			skipped["region denied"]++
		case slices.ContainsFunc(ok, func(q market.Provider) bool { return q.Address == p.Address }):
			// the chain lists each address once; a duplicate is not distinct
		default:
			ok = append(ok, p)
		}
	}
	if len(ok) < need {
		var why []string
		for _, k := range []string{"not active", "no free storage", "price above price_per_mib", "region not allowed", "region denied"} {
			if skipped[k] > 0 {
				why = append(why, fmt.Sprintf("%d %s", skipped[k], k))
			}
		}
		msg := ""
		if len(why) > 0 {
			msg = " (skipped: " + strings.Join(why, ", ") + ")"
		}
		return nil, fmt.Errorf("chainnet: %w: %d eligible of %d on chain, %d+%d pieces need %d distinct%s",
			ErrProviders, len(ok), len(provs), cfg.Params.K, cfg.Params.M, need, msg)
	}
	slices.SortFunc(ok, func(a, b market.Provider) int {
		if c := cmp.Compare(b.Storage-b.StorageUsed, a.Storage-a.StorageUsed); c != 0 {
			return c
		}
		return cmp.Compare(a.Address.String(), b.Address.String())
	})
	return ok[:need], nil
}

// BeginPut implements objects.DealNetwork: a fresh 32-byte object
// reference, its deal id (market.DealID), and a piecestore.Client per
// chosen provider uploading under that id. Commit opens the deal.
func (n *Network) BeginPut(ctx context.Context, cfg index.BucketConfig) (*objects.Upload, error) {
	ps, err := n.providers(ctx, true)
	if err != nil {
		return nil, err
	}
	chosen, err := Pick(ps, cfg, n.Price)
	if err != nil {
		return nil, err
	}
	ref := make([]byte, 32)
	if _, err := rand.Read(ref); err != nil {
		return nil, err
	}
	deal := market.DealID(n.Key.Address(), ref)
	up := &objects.Upload{}
	for _, p := range chosen {
		up.Stores = append(up.Stores, &piecestore.Client{Label: p.Address.String(), URL: p.Endpoint, Key: n.Key,
			Deal: deal, Provider: p.Address, HTTP: n.HTTP})
	}
	up.Commit = func(ctx context.Context, obj *storage.Object) (string, error) {
		return deal, n.commit(ctx, obj, ref, chosen)
	}
	return up, nil
}

// Resolve implements objects.Network: names are provider addresses; the
// ones on chain with an endpoint become read clients.
func (n *Network) Resolve(ctx context.Context, names []string) (map[string]storage.PieceStore, error) {
	ps, err := n.providers(ctx, false)
	if err != nil {
		return nil, err
	}
	byAddr := make(map[wallet.Address]market.Provider, len(ps))
	for _, p := range ps {
		byAddr[p.Address] = p
	}
	m := make(map[string]storage.PieceStore, len(names))
	for _, name := range names {
		a, err := wallet.ParseAddress(name)
		if err != nil {
			continue // not a provider's name: not on this network
		}
		if p, ok := byAddr[a]; ok && p.Endpoint != "" {
			m[name] = &piecestore.Client{Label: name, URL: p.Endpoint, Provider: a, HTTP: n.HTTP}
		}
	}
	return m, nil
}
