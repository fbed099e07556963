package objects

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/vistara-labs/vimana/internal/storage/index"
)

// Renewing every deal of the owner at once (RenewWithin): the deals of
// every object in every bucket, and of the bucket index blobs the network
// keeps, each renewed only when it ends within a window.

// HeightReporter is a DealRenewer that reports the network's current
// height (optional, found by type assertion): RenewWithin compares
// expiries with it.
type HeightReporter interface {
	Height(ctx context.Context) (int64, error)
}

// ExpiringIndex is an index.Store that keeps blobs on the network under
// expiring deals (optional, found by type assertion on Index.Store()):
// Expiring names the blobs whose deal ends within the next within blocks
// or has ended; rewriting such a blob (index.Touch) stores it under a new
// deal.
type ExpiringIndex interface {
	Expiring(ctx context.Context, within int64) ([]string, error)
}

// Renewal actions.
const (
	Renewed = "renewed"
	Skipped = "skipped" // ends after the window
	Failed  = "failed"
)

// Renewal is what RenewWithin did with one deal or index blob.
type Renewal struct {
	Kind   string `json:"kind"`   // "object" or "index"
	Object string `json:"object"` // bucket/key, or the bucket of an index blob
	Action string `json:"action"` // Renewed, Skipped or Failed
	RenewedDeal
	Error string `json:"error,omitempty"`
}

// RenewReport is every Renewal of a RenewWithin run.
type RenewReport struct {
	Height   int64     `json:"height"`
	Within   int64     `json:"within"` // 0: every deal
	Renewals []Renewal `json:"renewals"`
	Renewed  int       `json:"renewed"`
	Skipped  int       `json:"skipped"`
	Failed   int       `json:"failed"`
	Deposit  uint64    `json:"deposit"` // uvis
}

func (r *RenewReport) add(x Renewal) {
	r.Renewals = append(r.Renewals, x)
	switch x.Action {
	case Renewed:
		r.Renewed++
		r.Deposit += x.Deposit
	case Skipped:
		r.Skipped++
	default:
		r.Failed++
	}
}

// RenewWithin renews, by the network's default deal length, every deal
// of every object in every bucket (a deal copies share once) whose expiry
// is within blocks of the current height (within ≤ 0: every deal), and
// rewrites the index blobs whose deal ends as soon. Deals beyond the
// window are reported skipped with their expiry; a deal that cannot be
// renewed (ended, unreadable) is reported failed and the rest go on,
// except that ErrFunds stops the run: the report then holds what was
// done and the error wraps ErrFunds. progress, if set, sees each Renewal
// as it is made. A network without deals is ErrNoDeals.
func (c *Client) RenewWithin(ctx context.Context, within int64, progress func(Renewal)) (RenewReport, error) {
	rep := RenewReport{Within: max(within, 0), Renewals: []Renewal{}}
	dr, ok := c.Net.(DealRenewer)
	if !ok {
		return rep, fmt.Errorf("objects: %w (network %T)", ErrNoDeals, c.Net)
	}
	if within > 0 {
		hr, ok := c.Net.(HeightReporter)
		if !ok {
			return rep, fmt.Errorf("objects: network %T reports no height to compare expiries with", c.Net)
		}
		h, err := hr.Height(ctx)
		if err != nil {
			return rep, fmt.Errorf("objects: network height: %w", err)
		}
		rep.Height = h
	}
	note := func(r Renewal) {
		rep.add(r)
		if progress != nil {
			progress(r)
		}
	}
	buckets, err := c.Index.Buckets(ctx)
	if err != nil {
		return rep, err
	}
	seen := map[string]bool{}
	for _, b := range buckets {
		entries, err := c.allEntries(ctx, b.Name)
		if err != nil {
			return rep, err
		}
		for _, e := range entries {
			for _, p := range e.Parts {
				if p.Deal == "" || seen[p.Deal] {
					continue
				}
				seen[p.Deal] = true
				r := Renewal{Kind: "object", Object: b.Name + "/" + e.Key, RenewedDeal: RenewedDeal{Deal: p.Deal}}
				if within > 0 {
					st, err := dr.DealStatus(ctx, p.Deal)
					if err != nil {
						r.Action, r.Error = Failed, err.Error()
						note(r)
						continue
					}
					// A deal no longer active goes on to RenewDeal, which says why
					// it cannot be renewed.
					if r.OldExpiry, r.Expiry, r.Escrow = st.Expiry, st.Expiry, st.Escrow; st.State == "active" && st.Expiry-rep.Height > within {
						r.Action = Skipped
						note(r)
						continue
					}
				}
				rd, err := dr.RenewDeal(ctx, p.Deal, 0)
				if err != nil {
					r.Action, r.Error = Failed, err.Error()
					note(r)
					if errors.Is(err, ErrFunds) {
						return rep, fmt.Errorf("renewing deal %s of %s: %w", p.Deal, r.Object, err)
					}
					continue
				}
				r.Action, r.RenewedDeal = Renewed, rd
				note(r)
			}
		}
	}
	if err := c.renewIndex(ctx, within, buckets, note); err != nil {
		return rep, err
	}
	return rep, nil
}

// renewIndex rewrites the index blobs whose deal ends within blocks
// (≤ 0: every blob under a deal), as `store sync` does.
func (c *Client) renewIndex(ctx context.Context, within int64, buckets []index.Bucket, note func(Renewal)) error {
	ei, ok := c.Index.Store().(ExpiringIndex)
	if !ok {
		return nil // the index stays on this machine: no deals
	}
	if within <= 0 {
		within = math.MaxInt64 / 4
	}
	expiring, err := ei.Expiring(ctx, within)
	if err != nil {
		return fmt.Errorf("index blobs' deals: %w", err)
	}
	for _, b := range buckets {
		blob := c.Index.BlobName(b.Name)
		if !slices.Contains(expiring, blob) {
			continue
		}
		r := Renewal{Kind: "index", Object: b.Name, Action: Renewed}
		if err := c.Index.Touch(ctx, b.Name); err != nil {
			r.Action, r.Error = Failed, err.Error()
		}
		note(r)
	}
	return nil
}

// allEntries lists every object of bucket.
func (c *Client) allEntries(ctx context.Context, bucket string) ([]index.Entry, error) {
	var entries []index.Entry
	o := index.ListOptions{MaxKeys: 1000}
	for {
		r, err := c.Index.List(ctx, bucket, o)
		if err != nil {
			return nil, err
		}
		entries = append(entries, r.Objects...)
		if !r.Truncated {
			return entries, nil
		}
		o.Marker = r.NextMarker
	}
}
