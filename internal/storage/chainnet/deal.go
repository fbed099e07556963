package chainnet

import (
	"context"
	"fmt"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/objects"
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

// Locate implements objects.Locator: obj's stores and placement as its
// deal has them now. Repairs rebuild byte-identical pieces, so the ids
// must match; a deal that disagrees with the object is an error.
func (n *Network) Locate(ctx context.Context, obj *storage.Object) (*storage.Object, error) {
	d, err := n.Chain.Deal(ctx, obj.Deal)
	if err != nil {
		return nil, fmt.Errorf("chainnet: deal %s: %w", obj.Deal, err)
	}
	out := *obj
	out.Stores, out.Placement = nil, nil
	idx := map[wallet.Address]int{}
	for _, seg := range obj.Segments {
		if seg.Index < 0 || seg.Index >= len(d.Segments) || len(d.Segments[seg.Index].Pieces) != len(seg.Pieces) {
			return nil, fmt.Errorf("chainnet: deal %s does not hold segment %d as the object has it", obj.Deal, seg.Index)
		}
		row := make([]int, len(seg.Pieces))
		for i, pc := range d.Segments[seg.Index].Pieces {
			if pc.ID != seg.Pieces[i].ID {
				return nil, fmt.Errorf("chainnet: deal %s segment %d piece %d is %s, the object's is %s", obj.Deal, seg.Index, i, pc.ID, seg.Pieces[i].ID)
			}
			j, ok := idx[pc.Provider]
			if !ok {
				j = len(out.Stores)
				idx[pc.Provider] = j
				out.Stores = append(out.Stores, pc.Provider.String())
			}
			row[i] = j
		}
		out.Placement = append(out.Placement, row)
	}
	return &out, nil
}

// CloseDeal implements objects.DealCloser: it sends storage.close for the
// owner's deal and reads the refund from the closed deal on chain. A deal
// that already ended is reported as it is, without a transaction.
func (n *Network) CloseDeal(ctx context.Context, id string) (objects.ClosedDeal, error) {
	d, err := n.Chain.Deal(ctx, id)
	switch {
	case err != nil:
		return objects.ClosedDeal{}, fmt.Errorf("chainnet: deal %s: %w", id, err)
	case d.Owner != n.Key.Address():
		return objects.ClosedDeal{}, fmt.Errorf("chainnet: deal %s belongs to %s, not %s", id, d.Owner, n.Key.Address())
	case d.State != market.DealActive:
		return objects.ClosedDeal{Deal: id, State: d.State}, nil
	}
	if n.SubmitClose == nil {
		return objects.ClosedDeal{}, fmt.Errorf("chainnet: no signer for storage.close")
	}
	if err := n.SubmitClose(ctx, &market.CloseStorageDeal{Deal: id}); err != nil {
		return objects.ClosedDeal{}, fmt.Errorf("chainnet: storage.close %s: %w", id, err)
	}
	// The transaction's block is committed once it is indexed, so the
	// chain answers with the closed deal and its refund.
	if d, err = n.Chain.Deal(ctx, id); err != nil {
		return objects.ClosedDeal{Deal: id, State: market.DealClosed}, nil
	}
	return objects.ClosedDeal{Deal: id, State: d.State, Refund: d.Refund}, nil
}
