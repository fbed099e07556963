package node

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func loopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestStorageNodeWiring: [storage] opens the piece store under the home,
// serves it next to the API (other paths still reach the API), applies
// the deal policy through the chain, and runs its loops until cancelled.
func TestStorageNodeWiring(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodeKey, _ := wallet.Generate(nil)
	tenant, _ := wallet.Generate(nil)
	rpc := loopback(t)
	cn, err := chain.Start(ctx, chain.Config{Home: filepath.Join(t.TempDir(), "chain"), ChainID: "storage-node",
		Genesis:   app.Genesis{MinFee: 10, Balances: []app.GenesisBalance{{Address: nodeKey.Address(), Amount: 1_000_000}}},
		RPCListen: "tcp://" + rpc, P2PListen: "tcp://" + loopback(t), BlockInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Stop()
	cfg := DefaultConfig()
	cfg.Chain.Enabled, cfg.Provider.Enabled = true, true
	cfg.Storage.Enabled, cfg.Storage.Repair, cfg.Storage.Capacity = true, true, "1MiB"
	cfg.Storage.GCEvery.Duration = 50 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	signer := &chain.Signer{C: &chain.Client{RPC: "http://" + rpc}, Key: nodeKey}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sn, err := newStorageNode(home, cfg, nodeKey, signer, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(sn.mount(api))
	defer srv.Close()
	done := make(chan error, 1)
	go func() { done <- sn.run(ctx) }()

	data := make([]byte, 5000)
	rand.Read(data)
	id := piecestore.ID(data)
	object := make([]byte, 32)
	deal := market.DealID(tenant.Address(), object) // not on chain: a pending upload
	c := &piecestore.Client{URL: srv.URL, Key: tenant, Deal: deal, Provider: nodeKey.Address()}
	if err := c.Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, id); err != nil || len(got) != len(data) {
		t.Fatalf("get: %v", err)
	}
	if _, err := filepath.Glob(filepath.Join(home, "pieces", id[:2], id[2:4], id)); err != nil || !sn.store.Has(id) {
		t.Fatal("piece not under <home>/pieces")
	}
	big := make([]byte, 2<<20)
	if err := c.Put(ctx, piecestore.ID(big), big); !errors.Is(err, piecestore.ErrFull) {
		t.Fatalf("over capacity: %v", err)
	}
	res, err := http.Get(srv.URL + "/vimana.v1.NodeService/Version")
	if err != nil || res.StatusCode != http.StatusTeapot {
		t.Fatalf("API path not reaching the API: %v %v", res.Status, err)
	}
	// GC keeps the pending piece (within pending_ttl).
	time.Sleep(200 * time.Millisecond)
	if !sn.store.Has(id) {
		t.Fatal("pending piece collected")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("storage loops did not stop")
	}
}
