package chain

import (
	"context"
	"errors"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// ErrNotFound is a query for a record the chain does not have.
var ErrNotFound = errors.New("not found on chain")

// Deal returns a storage deal by ID.
func (c *Client) Deal(ctx context.Context, id string) (market.Deal, error) {
	var d market.Deal
	err := c.query(ctx, app.QueryDeal, []byte(id), &d)
	return d, err
}

// Deals lists an owner's storage deals.
func (c *Client) Deals(ctx context.Context, owner wallet.Address) ([]market.Deal, error) {
	var ds []market.Deal
	err := c.query(ctx, app.QueryDeals, []byte(owner.String()), &ds)
	return ds, err
}

// RepairDeals lists the deals flagged for repair.
func (c *Client) RepairDeals(ctx context.Context) ([]market.Deal, error) {
	var ds []market.Deal
	err := c.query(ctx, app.QueryRepairDeals, nil, &ds)
	return ds, err
}

// Challenges lists a provider's open audit challenges.
func (c *Client) Challenges(ctx context.Context, provider wallet.Address) ([]market.Challenge, error) {
	var cs []market.Challenge
	err := c.query(ctx, app.QueryChallenges, []byte(provider.String()), &cs)
	return cs, err
}

// IndexPointers lists an owner's index pointers (market.SetIndex).
func (c *Client) IndexPointers(ctx context.Context, owner wallet.Address) ([]market.IndexPointer, error) {
	var ps []market.IndexPointer
	err := c.query(ctx, app.QueryIndex, []byte(owner.String()), &ps)
	return ps, err
}

// IndexPointer returns one of an owner's index pointers (ErrNotFound if
// it has none by that name).
func (c *Client) IndexPointer(ctx context.Context, owner wallet.Address, name string) (market.IndexPointer, error) {
	var p market.IndexPointer
	err := c.query(ctx, app.QueryIndex, []byte(owner.String()+"/"+name), &p)
	return p, err
}
