package chainnet

import (
	"context"
	"errors"
	"fmt"
	"math/bits"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

var (
	_ objects.DealRenewer    = (*Network)(nil)
	_ objects.HeightReporter = (*Network)(nil)
	_ objects.ExpiringIndex  = (*IndexStore)(nil)
)

// Height implements objects.HeightReporter: the chain's height.
func (n *Network) Height(ctx context.Context) (int64, error) {
	h, err := n.Chain.Height(ctx)
	if err != nil {
		return 0, fmt.Errorf("chainnet: chain height: %w", err)
	}
	return h, nil
}

// balancer is a Chain that reports balances (chain.Client does).
type balancer interface {
	Account(ctx context.Context, a wallet.Address) (app.Account, error)
}

// RenewDeposit is the deposit that lets d run until expiry when renewed
// at height or later: what d's rate costs from height to expiry, less the
// escrow left once the chain settles d up to height (reckoned as if every
// piece were paid, which leaves at most that much). The chain settles at
// its own, later, height, where the need is no larger, so the deposit is
// never short — the rule NewDeal follows. At least 1: the chain refuses
// an empty deposit.
func RenewDeposit(d market.Deal, height, expiry int64) (uint64, error) {
	if expiry <= height {
		return 0, fmt.Errorf("chainnet: expiry %d is not after height %d", expiry, height)
	}
	rate, ok := d.Rate()
	if !ok {
		return 0, fmt.Errorf("chainnet: deal %s: price overflows", d.ID)
	}
	hi, need := bits.Mul64(rate, uint64(expiry-height))
	if hi != 0 {
		return 0, fmt.Errorf("chainnet: deposit overflows")
	}
	left := d.Escrow
	if height > d.SettledAt {
		if hi, due := bits.Mul64(rate, uint64(height-d.SettledAt)); hi != 0 || due >= left {
			left = 0
		} else {
			left -= due
		}
	}
	if need <= left {
		return 1, nil
	}
	return need - left, nil
}

// DealStatus implements objects.DealRenewer.
func (n *Network) DealStatus(ctx context.Context, id string) (objects.DealStatus, error) {
	d, err := n.Chain.Deal(ctx, id)
	if err != nil {
		return objects.DealStatus{}, fmt.Errorf("chainnet: deal %s: %w", id, err)
	}
	return objects.DealStatus{Deal: id, State: d.State, Expiry: d.Expiry, Escrow: d.Escrow}, nil
}

// RenewDeal implements objects.DealRenewer: it sends storage.renew
// moving the owner's deal blocks (≤ 0: DealBlocks) past its expiry, with
// RenewDeposit, and reads the renewed deal back.
func (n *Network) RenewDeal(ctx context.Context, id string, blocks int64) (objects.RenewedDeal, error) {
	if blocks <= 0 {
		blocks = n.DealBlocks
	}
	d, err := n.Chain.Deal(ctx, id)
	switch {
	case err != nil:
		return objects.RenewedDeal{}, fmt.Errorf("chainnet: deal %s: %w", id, err)
	case d.Owner != n.Key.Address():
		return objects.RenewedDeal{}, fmt.Errorf("chainnet: deal %s belongs to %s, not %s", id, d.Owner, n.Key.Address())
	case d.State != market.DealActive:
		return objects.RenewedDeal{}, fmt.Errorf("chainnet: deal %s is %s (at height %d): %w; store the object again", id, d.State, d.Ended, objects.ErrDealEnded)
	}
	if n.SubmitRenew == nil {
		return objects.RenewedDeal{}, fmt.Errorf("chainnet: no signer for storage.renew")
	}
	h, err := n.Chain.Height(ctx)
	if err != nil {
		return objects.RenewedDeal{}, fmt.Errorf("chainnet: chain height: %w", err)
	}
	if blocks > 1<<40 || d.Expiry > 1<<62 {
		return objects.RenewedDeal{}, fmt.Errorf("chainnet: renewing deal %s by %d blocks: too long", id, blocks)
	}
	msg := &market.RenewStorageDeal{Deal: id, Expiry: d.Expiry + blocks}
	if msg.Deposit, err = RenewDeposit(d, h, msg.Expiry); err != nil {
		return objects.RenewedDeal{}, err
	}
	// The chain refuses a deposit beyond the balance before the block
	// (CheckTx, an RPC error); say so plainly first.
	if bc, ok := n.Chain.(balancer); ok {
		if acc, err := bc.Account(ctx, n.Key.Address()); err == nil && acc.Balance < msg.Deposit {
			return objects.RenewedDeal{}, fmt.Errorf("chainnet: renewing deal %s to height %d needs a deposit of %d uvis (and the fee); %s holds %d: %w",
				id, msg.Expiry, msg.Deposit, n.Key.Address(), acc.Balance, objects.ErrFunds)
		}
	}
	if err := n.SubmitRenew(ctx, msg); err != nil {
		var te *chain.TxError
		switch {
		case errors.As(err, &te) && te.Code == market.CodeFunds:
			err = fmt.Errorf("%w: %w", objects.ErrFunds, err)
		case errors.As(err, &te) && te.Code == market.CodeState:
			err = fmt.Errorf("%w: %w", objects.ErrDealEnded, err)
		}
		return objects.RenewedDeal{}, fmt.Errorf("chainnet: storage.renew %s to height %d with a deposit of %d uvis: %w", id, msg.Expiry, msg.Deposit, err)
	}
	r := objects.RenewedDeal{Deal: id, OldExpiry: d.Expiry, Expiry: msg.Expiry, Deposit: msg.Deposit}
	// The transaction's block is committed once it is indexed, so the
	// chain answers with the renewed deal.
	if d, err = n.Chain.Deal(ctx, id); err == nil {
		r.Expiry, r.Escrow = d.Expiry, d.Escrow
	}
	return r, nil
}
