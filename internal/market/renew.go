package market

import (
	"fmt"
	"math/bits"
)

// TypeRenewStorageDeal is the renewal message type.
const TypeRenewStorageDeal = "storage.renew"

// RenewStorageDeal extends the sender's active deal to Expiry (equal to
// the current expiry: a pure top-up) and moves Deposit from the sender's
// balance into its escrow. After the deal settles up to the current
// height, the escrow must cover every piece at the deal's price until
// Expiry — the rule StorageDeal's deposit follows — so a renewal also
// restores escrow spent on repair fees.
type RenewStorageDeal struct {
	Deal    string `json:"deal"`
	Expiry  int64  `json:"expiry"` // height; at least the deal's current expiry
	Deposit uint64 `json:"deposit"`
}

// Validate implements Msg.
func (m *RenewStorageDeal) Validate() error {
	switch {
	case !ValidID(m.Deal):
		return fmt.Errorf("deal %q: not a deal id", m.Deal)
	case m.Expiry <= 0:
		return fmt.Errorf("expiry must be a height")
	case m.Deposit == 0:
		return fmt.Errorf("deposit must be positive")
	}
	return nil
}

// Debit implements Msg.
func (m *RenewStorageDeal) Debit() uint64 { return m.Deposit }

// dealCost is what rate uvis per block cost from height from until to;
// false if it overflows.
func dealCost(rate uint64, from, to int64) (uint64, bool) {
	hi, cost := bits.Mul64(rate, uint64(to-from))
	return cost, hi == 0
}

// Rate is what d costs per block: every piece at d's price, healthy or
// not (as StorageDeal charges its deposit); false if it overflows.
// Clients compute renewal deposits with it.
func (d *Deal) Rate() (uint64, bool) {
	var rate uint64
	for _, seg := range d.Segments {
		r, ok := pieceRate(d.PricePerMiB, seg.Size)
		if !ok {
			return 0, false
		}
		for range seg.Pieces {
			var carry uint64
			if rate, carry = bits.Add64(rate, r, 0); carry != 0 {
				return 0, false
			}
		}
	}
	return rate, true
}

// renewDeal moves the deal's expiry to m.Expiry and adds m.Deposit to its
// escrow. The expiry item at the old height stays on the agenda; EndBlock
// ends a deal only at an item whose height is the deal's Expiry, so the
// old item does nothing.
func renewDeal(c *Ctx, s *store, m *RenewStorageDeal) error {
	d, err := ownActiveDeal(c, s, m.Deal)
	if err != nil {
		return err
	}
	switch {
	case m.Expiry < d.Expiry:
		return fail(CodeInvalid, "expiry %d is before the deal's expiry %d", m.Expiry, d.Expiry)
	case m.Expiry <= c.Height:
		return fail(CodeInvalid, "expiry %d is not after height %d", m.Expiry, c.Height)
	}
	rate, ok := d.Rate()
	if !ok {
		return fail(CodeInvalid, "price overflows")
	}
	// Settling only changes the store, which is dropped if the renewal is
	// refused.
	settleDeal(s, d, c.Height)
	escrow, carry := bits.Add64(d.Escrow, m.Deposit, 0)
	if carry != 0 {
		return fail(CodeInvalid, "escrow overflows")
	}
	cost, ok := dealCost(rate, c.Height, m.Expiry)
	if !ok {
		return fail(CodeFunds, "%d uvis per block until height %d overflows", rate, m.Expiry)
	}
	if cost > escrow {
		return fail(CodeFunds, "deposit %d uvis is %d uvis short: the escrow (%d uvis left) must cover %d uvis per block until height %d, %d uvis",
			m.Deposit, cost-escrow, d.Escrow, rate, m.Expiry, cost)
	}
	if err := c.Bank.Debit(c.Sender, m.Deposit); err != nil {
		return err
	}
	s.hold(m.Deposit)
	old := d.Expiry
	d.Expiry, d.Escrow = m.Expiry, escrow
	s.putDeal(d)
	if d.Expiry != old {
		s.schedule(d.Expiry, itemExpiry+d.ID)
	}
	c.emit(EventDeal, "action", "renewed", "deal", d.ID, "owner", d.Owner.String(), "expiry", itoa(d.Expiry),
		"old_expiry", itoa(old), "deposit", utoa(m.Deposit), "escrow", utoa(d.Escrow))
	return nil
}
