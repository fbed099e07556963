package chainnet

import (
	"context"
	"fmt"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// commit opens the storage deal for obj, whose pieces are all stored on
// chosen under market.DealID(owner, ref). The deposit covers every piece
// at the price from the current height to DealBlocks later; the chain
// charges from its own (later) height, so the deposit is never short.
func (n *Network) commit(ctx context.Context, obj *storage.Object, ref []byte, chosen []market.Provider) error {
	byName := make(map[string]market.Provider, len(chosen))
	for _, p := range chosen {
		byName[p.Address.String()] = p
	}
	price := n.Price
	addrs := make([]wallet.Address, len(obj.Stores))
	for i, s := range obj.Stores {
		p, ok := byName[s]
		if !ok {
			return fmt.Errorf("chainnet: object store %q is not a chosen provider", s)
		}
		addrs[i] = p.Address
		if n.Price == 0 {
			price = max(price, p.Prices.StorageMiB)
		}
	}
	price = max(price, 1)
	h, err := n.Chain.Height(ctx)
	if err != nil {
		return fmt.Errorf("chainnet: chain height: %w", err)
	}
	msg, err := NewDeal(obj, ref, addrs, price, h, h+n.DealBlocks)
	if err != nil {
		return err
	}
	msg.RepairAt = n.RepairAt
	if err := n.Submit(ctx, msg); err != nil {
		return fmt.Errorf("chainnet: storage.deal: %w", err)
	}
	return nil
}
