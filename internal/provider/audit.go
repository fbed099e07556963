package provider

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// AuditChain is what the auditor reads from the microchain.
type AuditChain interface {
	Height(ctx context.Context) (int64, error)
	Challenges(ctx context.Context, provider wallet.Address) ([]market.Challenge, error)
}

// Prover builds audit proofs from the local piece store.
type Prover interface {
	Prove(id string, leaf uint64) (piecestore.Proof, error)
}

// Auditor answers the storage audit challenges the chain issues to this
// provider: at every new block it lists its open challenges and submits a
// MsgAuditProof (leaf + Merkle path) for each it has not answered. A piece
// that is gone or rotted cannot be proven: the auditor logs it and the
// chain records a miss when the window closes.
type Auditor struct {
	Addr   wallet.Address
	Chain  AuditChain
	Submit Submitter
	Pieces Prover
	Poll   time.Duration
	Logger *slog.Logger

	answered map[string]int64 // challenge key@height → its due height
}

// Run answers challenges until ctx ends.
func (a *Auditor) Run(ctx context.Context) error {
	if a.Poll == 0 {
		a.Poll = 100 * time.Millisecond
	}
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	log := a.Logger.With("component", "auditor")
	a.answered = map[string]int64{}
	t := time.NewTicker(a.Poll)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h, err := a.Chain.Height(ctx)
		if err != nil || h == last {
			continue
		}
		last = h
		if err := a.Step(ctx, h); err != nil && ctx.Err() == nil {
			log.Warn("answering audits", "height", h, "err", err)
		}
	}
}

// Step answers the open challenges once.
func (a *Auditor) Step(ctx context.Context, h int64) error {
	if a.answered == nil {
		a.answered = map[string]int64{}
	}
	for k, due := range a.answered {
		if due < h {
			delete(a.answered, k)
		}
	}
	chs, err := a.Chain.Challenges(ctx, a.Addr)
	if err != nil {
		return err
	}
	var errs []error
	for _, ch := range chs {
		// A piece is challenged again once an answer closed the last one.
		key := ch.Key() + "@" + strconv.FormatInt(ch.Height, 10)
		if _, done := a.answered[key]; done || ch.Due < h {
			continue
		}
		p, err := a.Pieces.Prove(ch.PieceID, ch.Leaf)
		if err != nil {
			a.answered[key] = ch.Due // do not retry a piece we cannot prove
			if errors.Is(err, storage.ErrCorrupt) || errors.Is(err, piecestore.ErrNotFound) {
				errs = append(errs, err)
				continue
			}
			return err
		}
		msg := &market.AuditProof{Deal: ch.Deal, Segment: ch.Segment, Piece: ch.Piece, Leaf: ch.Leaf, Data: p.Data, Path: p.Path}
		if _, err := a.Submit.Submit(ctx, market.TypeAuditProof, msg); err != nil {
			errs = append(errs, err)
			continue
		}
		a.answered[key] = ch.Due
	}
	return errors.Join(errs...)
}
