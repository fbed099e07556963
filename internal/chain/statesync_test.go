package chain

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// A fresh node joins by state sync from a validator's snapshot, starts
// with the validator's app hash at the snapshot height, and follows the
// chain with identical app hashes.
func TestStateSyncJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two CometBFT nodes")
	}
	alice, _ := wallet.Generate(nil)
	bob, _ := wallet.Generate(nil)
	const chainID = "vimana-statesync-test"
	ctx := context.Background()
	a, arc := startNode(t, chainID, alice, func(c *Config) { c.SnapshotInterval, c.SnapshotKeep = 10, 5 })
	aRPC := httpURL(a.RPCAddress())
	ca := &Client{RPC: aRPC}
	for i := range 3 {
		transfer(t, ca, alice, bob.Address(), uint64(1000+i))
	}
	var snapHeight uint64
	eventually(t, "a snapshot", func() bool {
		list, err := a.App().ListSnapshots(ctx, nil)
		if err != nil || len(list.Snapshots) == 0 {
			return false
		}
		snapHeight = list.Snapshots[0].Height
		return true
	})

	// Trust the validator's block 1 (as an operator would from a block
	// explorer or a friend).
	trust := int64(1)
	blk, err := arc.Block(ctx, &trust)
	if err != nil {
		t.Fatal(err)
	}
	aHome := a.cfg.RootDir
	id, err := LoadIdentity(aHome, "validator-0")
	if err != nil {
		t.Fatal(err)
	}
	bHome := filepath.Join(t.TempDir(), "b")
	if err := os.MkdirAll(filepath.Join(bHome, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	gen, err := os.ReadFile(filepath.Join(aHome, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bHome, "config", "genesis.json"), gen, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Start(ctx, Config{
		Home: bHome, ChainID: chainID, RPCListen: freeAddr(t), P2PListen: freeAddr(t),
		PersistentPeers: id.NodeID + "@" + strings.TrimPrefix(a.cfg.P2P.ListenAddress, "tcp://"),
		StateSync:       &StateSync{RPCServers: []string{aRPC}, TrustHeight: trust, TrustHash: hex.EncodeToString(blk.BlockID.Hash)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	brc, err := rpchttp.New(b.RPCAddress())
	if err != nil {
		t.Fatal(err)
	}
	var joined int64
	eventually(t, "the new node to sync", func() bool {
		st, err := brc.Status(ctx)
		if err != nil || st.SyncInfo.CatchingUp || st.SyncInfo.LatestBlockHeight < int64(snapHeight)+2 {
			return false
		}
		joined = st.SyncInfo.EarliestBlockHeight
		return true
	})
	// It started from a snapshot, not from block 1.
	if joined <= 1 {
		t.Fatalf("earliest block on the new node is %d: it replayed the chain instead of state-syncing", joined)
	}
	// Its app hash equals the validator's at the same height.
	info, err := b.App().Info(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := info.LastBlockHeight + 1
	var hdr []byte
	eventually(t, "the validator's next header", func() bool {
		blk, err := arc.Block(ctx, &h)
		if err != nil {
			return false
		}
		hdr = blk.Block.AppHash
		return true
	})
	if !bytes.Equal(info.LastBlockAppHash, hdr) {
		t.Fatalf("new node's app hash at %d is %x, the validator's is %x", info.LastBlockHeight, info.LastBlockAppHash, hdr)
	}
	// And it serves the same state, including later changes.
	transfer(t, ca, alice, bob.Address(), 7)
	cb := &Client{RPC: httpURL(b.RPCAddress())}
	want, _ := ca.Account(ctx, bob.Address())
	eventually(t, "the new node to see the last transfer", func() bool {
		got, err := cb.Account(ctx, bob.Address())
		return err == nil && got == want
	})
}
