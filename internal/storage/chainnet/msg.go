package chainnet

import (
	"fmt"
	"math/bits"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// NewDeal is the storage deal for an object put with storage.Put: providers[i]
// is the provider behind obj.Stores[i]; ref is the 32-byte object
// reference whose market.DealID the pieces were uploaded under. The
// deposit covers every piece at pricePerMiB from height until expiry.
// Inline objects have no pieces and need no deal.
func NewDeal(obj *storage.Object, ref []byte, providers []wallet.Address, pricePerMiB uint64, height, expiry int64) (*market.StorageDeal, error) {
	if len(providers) != len(obj.Stores) {
		return nil, fmt.Errorf("chainnet: %d providers for %d stores", len(providers), len(obj.Stores))
	}
	if len(obj.Segments) == 0 || obj.Segments[0].Inline != nil {
		return nil, fmt.Errorf("chainnet: an inline object has no pieces to place")
	}
	if expiry <= height {
		return nil, fmt.Errorf("chainnet: expiry %d is not after height %d", expiry, height)
	}
	m := &market.StorageDeal{Object: ref, K: uint32(obj.Params.K), M: uint32(obj.Params.M), PricePerMiB: pricePerMiB,
		Expiry: expiry, Providers: providers}
	var rate uint64
	for s, seg := range obj.Segments {
		ds := market.DealSegmentMsg{Size: uint64(seg.ShardSize)}
		for i, pc := range seg.Pieces {
			ds.Pieces = append(ds.Pieces, market.DealPieceMsg{ID: pc.ID, Root: pc.Root, Provider: uint32(obj.Placement[s][i])})
			hi, r := bits.Mul64(pricePerMiB, (uint64(seg.ShardSize)+1<<20-1)>>20)
			var c uint64
			rate, c = bits.Add64(rate, r, 0)
			if hi != 0 || c != 0 {
				return nil, fmt.Errorf("chainnet: price overflows")
			}
		}
		m.Segments = append(m.Segments, ds)
	}
	hi, dep := bits.Mul64(rate, uint64(expiry-height))
	if hi != 0 {
		return nil, fmt.Errorf("chainnet: deposit overflows")
	}
	m.Deposit = dep
	return m, m.Validate()
}
