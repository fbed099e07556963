package piecestore

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// DealLookup reads a deal from the chain; found is false when the chain
// has no such deal (err is then nil).
type DealLookup func(ctx context.Context, id string) (d market.Deal, found bool, err error)

func dealHolds(d market.Deal, piece string, who wallet.Address) (inDeal, held bool) {
	for _, seg := range d.Segments {
		for _, pc := range seg.Pieces {
			if pc.ID == piece {
				inDeal = true
				held = held || pc.Provider == who
			}
		}
	}
	return inDeal, held
}

// DealAuthorizer is the node's upload policy over the chain's deals: the
// deal's owner may upload its pieces; anyone may while the deal is not on
// chain yet (a pending upload: GC drops it unless the deal appears) and,
// once the chain flagged the deal for repair, anyone may upload a piece
// of it (repair workers). An unreachable chain refuses.
func DealAuthorizer(lookup DealLookup) Authorizer {
	return func(ctx context.Context, deal, piece string, tenant ed25519.PublicKey) error {
		d, found, err := lookup(ctx, deal)
		switch {
		case err != nil:
			return fmt.Errorf("checking deal %s: %w", deal, err)
		case !found:
			return nil
		case d.State != market.DealActive:
			return fmt.Errorf("%w: deal %s is %s", ErrPermission, deal, d.State)
		case wallet.AddressOf(tenant) == d.Owner:
			return nil
		}
		if in, _ := dealHolds(d, piece, wallet.Address{}); d.Repair && in {
			return nil
		}
		return fmt.Errorf("%w: %s may not upload pieces of deal %s", ErrPermission, wallet.AddressOf(tenant), deal)
	}
}

// DealState is GC's view of the chain for the provider self: a piece is
// live while an active deal places it on self, pending while its deal is
// not on chain, and ended otherwise (the deal expired or its owner closed
// it: any state but active). An unreachable chain counts as live
// (never delete on doubt).
//
// Each call returns a function that looks every deal up once (one GC run).
func DealState(lookup DealLookup, self wallet.Address) func(deal, piece string) int {
	type answer struct {
		d     market.Deal
		found bool
		err   error
	}
	seen := map[string]answer{}
	return func(deal, piece string) int {
		a, ok := seen[deal]
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			a.d, a.found, a.err = lookup(ctx, deal)
			cancel()
			seen[deal] = a
		}
		d, found, err := a.d, a.found, a.err
		switch {
		case err != nil:
			return DealLive
		case !found:
			return DealPending
		case d.State != market.DealActive:
			return DealEnded
		}
		if _, held := dealHolds(d, piece, self); held {
			return DealLive
		}
		if d.Repair {
			return DealLive // a repair may be placing it here right now
		}
		return DealEnded
	}
}

// ChainLookup adapts a chain client's Deal query (whose not-found error
// matches notFound) to a DealLookup.
func ChainLookup(get func(ctx context.Context, id string) (market.Deal, error), notFound error) DealLookup {
	return func(ctx context.Context, id string) (market.Deal, bool, error) {
		d, err := get(ctx, id)
		if errors.Is(err, notFound) {
			return d, false, nil
		}
		return d, err == nil, err
	}
}
