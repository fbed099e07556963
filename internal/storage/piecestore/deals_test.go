package piecestore

import (
	"context"
	"errors"
	"testing"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// TestDealStateEndedDeals: GC keeps a piece while an active deal places it
// here (or a flagged one may be moving it), and drops it once the deal
// expired or its owner closed it; an unreachable chain keeps everything.
func TestDealStateEndedDeals(t *testing.T) {
	self := wallet.Address{1}
	held := func(state string, repair bool) market.Deal {
		return market.Deal{State: state, Repair: repair, Segments: []market.DealSegment{{Pieces: []market.StoredPiece{{ID: "p", Provider: self}}}}}
	}
	deals := map[string]market.Deal{
		"active": held(market.DealActive, false), "expired": held(market.DealExpired, false),
		"closed": held(market.DealClosed, false), "closed-flagged": held(market.DealClosed, true),
	}
	lookup := func(_ context.Context, id string) (market.Deal, bool, error) {
		if id == "down" {
			return market.Deal{}, false, errors.New("unreachable")
		}
		d, ok := deals[id]
		return d, ok, nil
	}
	state := DealState(lookup, self)
	for deal, want := range map[string]int{"active": DealLive, "expired": DealEnded, "closed": DealEnded,
		"closed-flagged": DealEnded, "unknown": DealPending, "down": DealLive} {
		if got := state(deal, "p"); got != want {
			t.Errorf("%s: %d, want %d", deal, got, want)
		}
	}
	// Uploads for a closed deal are refused, even from its owner.
	auth := DealAuthorizer(lookup)
	if err := auth(context.Background(), "closed", "p", make([]byte, 32)); !errors.Is(err, ErrPermission) {
		t.Fatalf("upload for a closed deal: %v", err)
	}
}
