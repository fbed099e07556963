package app

import (
	"bytes"
	"context"
	"crypto/sha256"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/chain/state"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// ListSnapshots implements abci.Application: the snapshots this node serves.
func (a *App) ListSnapshots(context.Context, *abci.ListSnapshotsRequest) (*abci.ListSnapshotsResponse, error) {
	s := a.store.Snapshots()
	if s == nil {
		return &abci.ListSnapshotsResponse{}, nil
	}
	list, err := s.List()
	if err != nil {
		return nil, err
	}
	return &abci.ListSnapshotsResponse{Snapshots: list}, nil
}

// LoadSnapshotChunk implements abci.Application.
func (a *App) LoadSnapshotChunk(_ context.Context, req *abci.LoadSnapshotChunkRequest) (*abci.LoadSnapshotChunkResponse, error) {
	s := a.store.Snapshots()
	if s == nil {
		return &abci.LoadSnapshotChunkResponse{}, nil
	}
	return &abci.LoadSnapshotChunkResponse{Chunk: s.chunk(req.Height, req.Format, req.Chunk)}, nil
}

// OfferSnapshot implements abci.Application. A node with state of its own
// refuses every snapshot; otherwise it accepts one in our format whose
// metadata is consistent. req.AppHash comes from a header CometBFT's light
// client verified; the restored state must hash to it.
func (a *App) OfferSnapshot(_ context.Context, req *abci.OfferSnapshotRequest) (*abci.OfferSnapshotResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := req.Snapshot
	reject := func(r abci.OfferSnapshotResult) (*abci.OfferSnapshotResponse, error) {
		return &abci.OfferSnapshotResponse{Result: r}, nil
	}
	switch {
	case a.height != 0:
		return reject(abci.OFFER_SNAPSHOT_RESULT_ABORT)
	case s == nil || s.Format != SnapshotFormat:
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT)
	case s.Height == 0 || s.Chunks == 0 || uint64(len(s.Metadata)) != uint64(s.Chunks)*sha256.Size,
		!bytes.Equal(s.Hash, sha256Sum(s.Metadata)), len(req.AppHash) != state.HashSize:
		return reject(abci.OFFER_SNAPSHOT_RESULT_REJECT)
	}
	a.restore = &restore{snapshot: s, appHash: bytes.Clone(req.AppHash), kv: map[string][]byte{}}
	return &abci.OfferSnapshotResponse{Result: abci.OFFER_SNAPSHOT_RESULT_ACCEPT}, nil
}

// ApplySnapshotChunk implements abci.Application. Each chunk must match its
// hash in the metadata (else it is fetched again from another peer); after
// the last one the state must hash to the trusted app hash, and only then
// is it stored and adopted.
func (a *App) ApplySnapshotChunk(_ context.Context, req *abci.ApplySnapshotChunkRequest) (*abci.ApplySnapshotChunkResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.restore
	result := func(res abci.ApplySnapshotChunkResult) (*abci.ApplySnapshotChunkResponse, error) {
		return &abci.ApplySnapshotChunkResponse{Result: res}, nil
	}
	if r == nil {
		return result(abci.APPLY_SNAPSHOT_CHUNK_RESULT_ABORT)
	}
	if req.Index != r.next {
		// CometBFT applies chunks in order; ask for the one we need.
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY, RefetchChunks: []uint32{r.next}}, nil
	}
	want := r.snapshot.Metadata[req.Index*sha256.Size : (req.Index+1)*sha256.Size]
	if !bytes.Equal(sha256Sum(req.Chunk), want) {
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY,
			RefetchChunks: []uint32{req.Index}, RejectSenders: []string{req.Sender}}, nil
	}
	if err := r.decodeChunk(req.Chunk); err != nil {
		// The chunk is the one the snapshot's own metadata names: the
		// snapshot itself is bad.
		a.restore = nil
		return result(abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT)
	}
	r.next++
	if r.next < r.snapshot.Chunks {
		return result(abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT)
	}
	a.restore = nil
	v := newView(r.kv)
	if !bytes.Equal(v.tree.Root(), r.appHash) {
		return result(abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT)
	}
	height := int64(r.snapshot.Height)
	if err := a.store.Restore(r.kv, height, r.appHash); err != nil {
		return nil, err
	}
	a.state, a.height, a.appHash = v, height, r.appHash
	a.finalHeight, a.finalHash = 0, nil
	a.check = map[wallet.Address]pending{}
	return result(abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT)
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
