package app

import (
	"bytes"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// source runs 10 blocks on an app that snapshots every 3 blocks with tiny
// chunks and returns it with its app hash after every height.
func source(t *testing.T, f fixture) (*App, map[int64][]byte) {
	t.Helper()
	store := NewMemStore()
	store.SetSnapshots(&Snapshots{Dir: t.TempDir(), Interval: 3, Keep: 2, ChunkSize: 64})
	a, err := New(store)
	if err != nil {
		t.Fatal(err)
	}
	initApp(t, a, f)
	hashes := map[int64][]byte{}
	for i := range uint64(10) {
		runBlock(t, a, nil, transfers(t, f, i)...)
		hashes[a.height] = a.appHash
	}
	if err := store.Snapshots().Err(); err != nil {
		t.Fatal(err)
	}
	return a, hashes
}

func TestStateSyncRestore(t *testing.T) {
	f := newFixture(t)
	src, hashes := source(t, f)
	list, err := src.ListSnapshots(ctx, &abci.ListSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Snapshots) != 2 || list.Snapshots[0].Height != 9 || list.Snapshots[1].Height != 6 {
		t.Fatalf("snapshots %v, want heights 9 and 6 (keep 2)", list.Snapshots)
	}
	snap := list.Snapshots[0]
	if snap.Chunks < 2 {
		t.Fatalf("%d chunks: the test wants several", snap.Chunks)
	}
	chunk := func(i uint32) []byte {
		res, err := src.LoadSnapshotChunk(ctx, &abci.LoadSnapshotChunkRequest{Height: snap.Height, Format: snap.Format, Chunk: i})
		if err != nil || len(res.Chunk) == 0 {
			t.Fatalf("chunk %d: %v", i, err)
		}
		return res.Chunk
	}
	offer := func(a *App, appHash []byte) abci.OfferSnapshotResult {
		res, err := a.OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: snap, AppHash: appHash})
		if err != nil {
			t.Fatal(err)
		}
		return res.Result
	}
	apply := func(a *App, i uint32, b []byte) *abci.ApplySnapshotChunkResponse {
		res, err := a.ApplySnapshotChunk(ctx, &abci.ApplySnapshotChunkRequest{Index: i, Chunk: b, Sender: "peer"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// A node with state of its own refuses; a foreign format is refused.
	if r := offer(src, hashes[9]); r != abci.OFFER_SNAPSHOT_RESULT_ABORT {
		t.Errorf("offer to a node with state: %v", r)
	}
	dst := NewInMemory()
	other := *snap
	other.Format = 2
	if res, _ := dst.OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: &other, AppHash: hashes[9]}); res.Result != abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT {
		t.Errorf("format 2: %v", res.Result)
	}

	// Against the wrong app hash the restored state is refused at the end.
	if r := offer(dst, hashes[8]); r != abci.OFFER_SNAPSHOT_RESULT_ACCEPT {
		t.Fatalf("offer: %v", r)
	}
	var last *abci.ApplySnapshotChunkResponse
	for i := range snap.Chunks {
		last = apply(dst, i, chunk(i))
	}
	if last.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT || dst.height != 0 {
		t.Fatalf("wrong app hash: %v, height %d", last.Result, dst.height)
	}

	// The real one: a corrupted chunk is refetched from someone else.
	if r := offer(dst, hashes[9]); r != abci.OFFER_SNAPSHOT_RESULT_ACCEPT {
		t.Fatalf("offer: %v", r)
	}
	bad := bytes.Clone(chunk(0))
	bad[len(bad)-1] ^= 1
	if res := apply(dst, 0, bad); res.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY ||
		len(res.RefetchChunks) != 1 || res.RefetchChunks[0] != 0 || len(res.RejectSenders) != 1 {
		t.Fatalf("corrupted chunk: %+v", res)
	}
	for i := range snap.Chunks {
		if res := apply(dst, i, chunk(i)); res.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT {
			t.Fatalf("chunk %d: %v", i, res.Result)
		}
	}
	info, err := dst.Info(ctx, &abci.InfoRequest{})
	if err != nil || info.LastBlockHeight != 9 || !bytes.Equal(info.LastBlockAppHash, hashes[9]) {
		t.Fatalf("restored Info %+v %v", info, err)
	}

	// The restored app follows the chain: the source's block 10 again
	// (rebuilt from height 9) gives the source's hash and state.
	runBlock(t, dst, nil, transfers(t, f, 9)...)
	if !bytes.Equal(dst.appHash, hashes[10]) {
		t.Fatalf("after block 10: %x, source %x", dst.appHash, hashes[10])
	}
	if got, want := account(t, dst, f.bob.Address()), account(t, src, f.bob.Address()); got != want {
		t.Fatalf("restored bob %+v, source %+v", got, want)
	}
}

// Snapshots of a bbolt store are written in the background from a read
// transaction of their block, while later blocks commit.
func TestBoltSnapshotsInBackground(t *testing.T) {
	f := newFixture(t)
	store, err := OpenBoltStore(t.TempDir() + "/app.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.SetSnapshots(&Snapshots{Dir: t.TempDir(), Interval: 2, Keep: 2, ChunkSize: 100})
	src, err := New(store)
	if err != nil {
		t.Fatal(err)
	}
	initApp(t, src, f)
	hashes := map[uint64][]byte{}
	for i := range uint64(9) {
		runBlock(t, src, nil, transfers(t, f, i)...)
		hashes[uint64(src.height)] = src.appHash
	}
	store.WaitSnapshots()
	if err := store.Snapshots().Err(); err != nil {
		t.Fatal(err)
	}
	// Blocks did not wait for snapshots, so a due one is skipped while the
	// previous is still being written: which heights exist depends on
	// timing, but there are at most 2, at even heights.
	list, err := src.ListSnapshots(ctx, &abci.ListSnapshotsRequest{})
	if err != nil || len(list.Snapshots) == 0 || len(list.Snapshots) > 2 {
		t.Fatalf("snapshots %v %v, want 1 or 2", list, err)
	}
	// Each restores to exactly its own height's app hash, although later
	// blocks committed while it was written.
	for _, snap := range list.Snapshots {
		dst := NewInMemory()
		res, err := dst.OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: snap, AppHash: hashes[snap.Height]})
		if err != nil || res.Result != abci.OFFER_SNAPSHOT_RESULT_ACCEPT {
			t.Fatalf("offer %d: %v %v", snap.Height, res, err)
		}
		for i := range snap.Chunks {
			c, _ := src.LoadSnapshotChunk(ctx, &abci.LoadSnapshotChunkRequest{Height: snap.Height, Format: snap.Format, Chunk: i})
			r, err := dst.ApplySnapshotChunk(ctx, &abci.ApplySnapshotChunkRequest{Index: i, Chunk: c.Chunk})
			if err != nil || r.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT {
				t.Fatalf("snapshot %d chunk %d: %v %v", snap.Height, i, r, err)
			}
		}
		if snap.Height%2 != 0 || uint64(dst.height) != snap.Height || !bytes.Equal(dst.appHash, hashes[snap.Height]) {
			t.Fatalf("restored %d: height %d hash %x", snap.Height, dst.height, dst.appHash)
		}
	}
}
