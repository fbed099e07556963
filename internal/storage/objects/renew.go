package objects

import (
	"context"
	"errors"
	"fmt"

	"github.com/vistara-labs/vimana/internal/storage/index"
)

// Renewal errors, for callers that tell the user what to do next.
var (
	// ErrFunds is a renewal the owner's balance cannot pay for.
	ErrFunds = errors.New("insufficient balance")
	// ErrDealEnded is a renewal of a deal that expired or was closed: its
	// pieces are gone or going, so the object must be stored again.
	ErrDealEnded = errors.New("deal not active")
	// ErrNoDeals is a renewal on a network without deals (or renewals).
	ErrNoDeals = errors.New("network has no deals to renew")
)

// DealRenewer is a DealNetwork whose deals can be extended past their
// expiry and topped up (optional, found by type assertion), and which
// reports a deal's expiry and escrow.
type DealRenewer interface {
	// RenewDeal extends deal by blocks past its current expiry (≤ 0: the
	// network's default deal length), depositing what the escrow then
	// lacks. Errors wrap ErrFunds and ErrDealEnded where they apply.
	RenewDeal(ctx context.Context, deal string, blocks int64) (RenewedDeal, error)
	// DealStatus is deal as the network has it now.
	DealStatus(ctx context.Context, deal string) (DealStatus, error)
}

// DealStatus is a deal's state, expiry height and escrow.
type DealStatus struct {
	Deal   string `json:"deal"`
	State  string `json:"state"`
	Expiry int64  `json:"expiry"`
	Escrow uint64 `json:"escrow"` // uvis, as last settled
}

// RenewedDeal is what renewing a deal did.
type RenewedDeal struct {
	Deal      string `json:"deal"`
	OldExpiry int64  `json:"old_expiry"`
	Expiry    int64  `json:"expiry"`
	Deposit   uint64 `json:"deposit"` // uvis moved from the owner's balance into the escrow
	Escrow    uint64 `json:"escrow"`  // uvis in escrow after the renewal
}

// Renew extends the storage deals of bucket/key's parts, or with key ""
// of every object in bucket, by blocks (≤ 0: the network's default deal
// length). A deal several entries share (copies) is renewed once; done is
// called after each renewal. It stops at the first deal that cannot be
// renewed and returns the renewals so far with the error.
func (c *Client) Renew(ctx context.Context, bucket, key string, blocks int64, done func(obj string, r RenewedDeal)) ([]RenewedDeal, error) {
	dr, ok := c.Net.(DealRenewer)
	if !ok {
		return nil, fmt.Errorf("objects: %w (network %T)", ErrNoDeals, c.Net)
	}
	var entries []index.Entry
	if key != "" {
		e, err := c.Index.Get(ctx, bucket, key)
		if err != nil {
			return nil, err
		}
		entries = append(entries, *e)
	} else {
		es, err := c.allEntries(ctx, bucket)
		if err != nil {
			return nil, err
		}
		entries = es
	}
	var out []RenewedDeal
	seen := map[string]bool{}
	for _, e := range entries {
		for _, p := range e.Parts {
			if p.Deal == "" || seen[p.Deal] {
				continue
			}
			seen[p.Deal] = true
			r, err := dr.RenewDeal(ctx, p.Deal, blocks)
			if err != nil {
				return out, fmt.Errorf("renewing deal %s of %s/%s: %w", p.Deal, bucket, e.Key, err)
			}
			out = append(out, r)
			if done != nil {
				done(bucket+"/"+e.Key, r)
			}
		}
	}
	return out, nil
}
