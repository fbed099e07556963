// Package repair is the storage repair worker: for a deal the chain has
// flagged (a segment fell below its repair threshold after failed audits
// or lost providers), it fetches k healthy pieces of each damaged segment
// from their providers, rebuilds the missing pieces with Reed-Solomon
// (pieces are encrypted shards: no key is needed, and the rebuilt bytes
// are identical, so ids and Merkle roots do not change), uploads each to
// a new provider, and submits MsgRepairDeal with that provider's receipt.
//
// It reads the chain through a small interface and reaches providers over
// their piece-store HTTP API (internal/storage/piecestore).
package repair

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/klauspost/reedsolomon"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Chain is what the worker reads.
type Chain interface {
	Height(ctx context.Context) (int64, error)
	RepairDeals(ctx context.Context) ([]market.Deal, error)
	Providers(ctx context.Context) ([]market.Provider, error)
}

// Submitter sends the worker's transactions (a *chain.Signer).
type Submitter interface {
	SubmitAndWait(ctx context.Context, typ string, msg app.Msg, timeout time.Duration) (chain.Submitted, chain.TxResult, error)
}

// Worker repairs flagged deals.
type Worker struct {
	Key    *wallet.Key // signs uploads (and the chain txs, through Submit)
	Chain  Chain
	Submit Submitter
	HTTP   *http.Client
	Poll   time.Duration
	Logger *slog.Logger

	// Traffic counters (bytes), for benchmarks and metrics.
	Fetched  atomic.Int64
	Uploaded atomic.Int64
}

// Report is what one deal's repair did.
type Report struct {
	Deal     string
	Pieces   int   // pieces rebuilt and moved
	Fetched  int64 // bytes downloaded
	Uploaded int64 // bytes uploaded
}

// Run repairs flagged deals at every new block until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	poll := w.Poll
	if poll == 0 {
		poll = 200 * time.Millisecond
	}
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "repair")
	t := time.NewTicker(poll)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h, err := w.Chain.Height(ctx)
		if err != nil || h == last {
			continue
		}
		last = h
		deals, err := w.Chain.RepairDeals(ctx)
		if err != nil {
			continue
		}
		for _, d := range deals {
			rep, err := w.Repair(ctx, d)
			if err != nil && ctx.Err() == nil {
				log.Warn("repairing deal", "deal", d.ID, "err", err)
				continue
			}
			log.Info("repaired deal", "deal", d.ID, "pieces", rep.Pieces, "fetched", rep.Fetched, "uploaded", rep.Uploaded)
		}
	}
}

func healthy(p market.StoredPiece, provs map[wallet.Address]market.Provider) bool {
	pr, ok := provs[p.Provider]
	return !p.Failed && ok && pr.Status == market.ProviderActive
}

func (w *Worker) client(p market.Provider, deal string) *piecestore.Client {
	return &piecestore.Client{URL: p.Endpoint, Key: w.Key, Deal: deal, Provider: p.Address, HTTP: w.HTTP}
}

// Repair rebuilds and re-places every unhealthy piece of d.
func (w *Worker) Repair(ctx context.Context, d market.Deal) (Report, error) {
	rep := Report{Deal: d.ID}
	list, err := w.Chain.Providers(ctx)
	if err != nil {
		return rep, err
	}
	provs := map[wallet.Address]market.Provider{}
	for _, p := range list {
		provs[p.Address] = p
	}
	enc, err := reedsolomon.New(int(d.K), int(d.M))
	if err != nil {
		return rep, err
	}
	used := map[wallet.Address]uint64{} // bytes this repair places, per provider
	// A segment or piece that cannot be repaired now (no source, no
	// target) does not stop the others: partial repair restores
	// redundancy where it can, and the next block retries the rest.
	var errs []error
	for si, seg := range d.Segments {
		var missing []int
		for pi, pc := range seg.Pieces {
			if !healthy(pc, provs) {
				missing = append(missing, pi)
			}
		}
		if len(missing) == 0 {
			continue
		}
		shards, err := w.fetch(ctx, d, seg, provs)
		if err != nil {
			errs = append(errs, fmt.Errorf("segment %d: %w", si, err))
			continue
		}
		for _, s := range shards {
			rep.Fetched += int64(len(s))
			w.Fetched.Add(int64(len(s)))
		}
		if err := enc.Reconstruct(shards); err != nil {
			errs = append(errs, fmt.Errorf("segment %d: %w", si, err))
			continue
		}
		for _, pi := range missing {
			if err := w.place(ctx, &d, si, pi, shards[pi], provs, used, &rep); err != nil {
				errs = append(errs, fmt.Errorf("segment %d piece %d: %w", si, pi, err))
			}
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	return rep, errors.Join(errs...)
}

// place uploads a rebuilt piece to a new provider and moves it on chain.
func (w *Worker) place(ctx context.Context, d *market.Deal, si, pi int, data []byte, provs map[wallet.Address]market.Provider, used map[wallet.Address]uint64, rep *Report) error {
	seg := d.Segments[si]
	pc := seg.Pieces[pi]
	if piecestore.ID(data) != pc.ID {
		return fmt.Errorf("%w: rebuilt to different bytes", storage.ErrCorrupt)
	}
	target, err := pick(*d, seg, provs, used)
	if err != nil {
		return err
	}
	rc, err := w.client(target, d.ID).PutReceipt(ctx, pc.ID, data)
	if err != nil {
		return err
	}
	rep.Uploaded += int64(len(data))
	w.Uploaded.Add(int64(len(data)))
	used[target.Address] += seg.Size
	msg := &market.RepairDeal{Deal: d.ID, Segment: uint32(si), Piece: uint32(pi), Provider: target.Address, Key: rc.Key, Signature: rc.Signature}
	if _, _, err := w.Submit.SubmitAndWait(ctx, market.TypeRepairDeal, msg, 30*time.Second); err != nil {
		return err
	}
	seg.Pieces[pi].Provider, seg.Pieces[pi].Failed = target.Address, false
	rep.Pieces++
	return nil
}

// fetch returns k+m shard slots holding k verified healthy pieces (nil
// elsewhere), asking all healthy holders at once and keeping the first k.
func (w *Worker) fetch(ctx context.Context, d market.Deal, seg market.DealSegment, provs map[wallet.Address]market.Provider) ([][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i    int
		data []byte
		err  error
	}
	ch := make(chan result, len(seg.Pieces))
	asked := 0
	for i, pc := range seg.Pieces {
		if !healthy(pc, provs) {
			continue
		}
		asked++
		go func() {
			b, err := w.client(provs[pc.Provider], d.ID).Get(ctx, pc.ID)
			if err == nil && piecestore.ID(b) != pc.ID {
				b, err = nil, fmt.Errorf("%w: piece %d", storage.ErrCorrupt, i)
			}
			ch <- result{i, b, err}
		}()
	}
	shards := make([][]byte, len(seg.Pieces))
	good := 0
	var errs []error
	for range asked {
		r := <-ch
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		shards[r.i] = r.data
		if good++; good == int(d.K) {
			return shards, nil
		}
	}
	return nil, fmt.Errorf("%w: %d of %d pieces: %w", storage.ErrUnavailable, good, d.K, errors.Join(errs...))
}

// pick chooses the new home of a piece: an active provider with room,
// asking no more than the deal pays, not holding another piece of the
// segment; the one with the most free space wins (ties: address order).
func pick(d market.Deal, seg market.DealSegment, provs map[wallet.Address]market.Provider, used map[wallet.Address]uint64) (market.Provider, error) {
	var best market.Provider
	var bestFree uint64
	addrs := make([]wallet.Address, 0, len(provs))
	for a := range provs {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, wallet.Address.Compare)
	for _, a := range addrs {
		p := provs[a]
		if p.Status != market.ProviderActive || p.Storage == 0 || p.Prices.StorageMiB > d.PricePerMiB ||
			slices.ContainsFunc(seg.Pieces, func(pc market.StoredPiece) bool { return pc.Provider == a }) {
			continue
		}
		taken := p.StorageUsed + used[a]
		if taken+seg.Size > p.Storage {
			continue
		}
		if free := p.Storage - taken; best.Address.IsZero() || free > bestFree {
			best, bestFree = p, free
		}
	}
	if best.Address.IsZero() {
		return best, fmt.Errorf("%w: no provider can take a %d-byte piece", storage.ErrUnavailable, seg.Size)
	}
	return best, nil
}
