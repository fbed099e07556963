package objects

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

// Released is what removing or replacing an object did with the storage
// deals of its parts. Nothing happens on a network without deals.
type Released struct {
	Closed []ClosedDeal `json:"closed,omitempty"` // ended now (or found already ended)
	Shared []string     `json:"shared,omitempty"` // still named by another entry (a copy): left running
	// Err says which deals could not be closed; they run to their expiry.
	// The removal itself stands.
	Err error `json:"-"`
}

// Refund is the escrow the closes returned, in uvis.
func (r *Released) Refund() uint64 {
	var n uint64
	for _, c := range r.Closed {
		n += c.Refund
	}
	return n
}

// release closes the deals of objs (the parts of an entry just removed
// from the index, or replaced) that no entry names any more. It runs after
// the index write, so a failure or crash here leaves a deal running to its
// expiry, never an entry whose deal was closed.
func (c *Client) release(ctx context.Context, objs []storage.Object) *Released {
	var deals []string
	for _, o := range objs {
		if o.Deal != "" {
			deals = append(deals, o.Deal)
		}
	}
	r := &Released{}
	if len(deals) == 0 {
		return r
	}
	free, err := c.Index.Unreferenced(ctx, deals)
	if err != nil {
		r.Err = fmt.Errorf("objects: checking whether deals %v are still used: %w", deals, err)
		return r
	}
	for _, d := range deals {
		if !slices.Contains(free, d) && !slices.Contains(r.Shared, d) {
			r.Shared = append(r.Shared, d)
		}
	}
	if len(free) == 0 {
		return r
	}
	dc, ok := c.Net.(DealCloser)
	if !ok {
		r.Err = fmt.Errorf("objects: network %T cannot close deals %v; they run to their expiry", c.Net, free)
		return r
	}
	// An index kept on the network must not name a closed deal: a change
	// the store still holds back (the S3 gateway's debounce) is replicated
	// first. A no-op when every index write replicated already.
	if err := c.Index.Flush(ctx); err != nil {
		r.Err = fmt.Errorf("objects: the index change is not on the network yet, so deals %v stay open (they run to their expiry): %w", free, err)
		return r
	}
	var errs []error
	for _, d := range free {
		cd, err := dc.CloseDeal(ctx, d)
		if err != nil {
			errs = append(errs, fmt.Errorf("closing deal %s: %w", d, err))
			continue
		}
		r.Closed = append(r.Closed, cd)
	}
	r.Err = errors.Join(errs...)
	return r
}

// released is release for removals whose caller has no result to report
// it in (overwrites, copies, multipart): a failure is logged.
func (c *Client) released(ctx context.Context, objs []storage.Object) {
	if r := c.release(ctx, objs); r.Err != nil {
		c.warn(r.Err)
	}
}

func (c *Client) warn(err error) {
	if c.Warn != nil {
		c.Warn(err)
		return
	}
	slog.Warn("storage deal left running", "err", err)
}

func partsOf(e *index.Entry) []storage.Object {
	if e == nil {
		return nil
	}
	return e.Parts
}
