package chainnet_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/provider"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/chainnet"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func eventually(t *testing.T, what string, limit time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustKey(t *testing.T) *wallet.Key {
	t.Helper()
	k, err := wallet.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestStoreDeleteClosesDealOnChain runs objects.Client over the "chain"
// network against a real CometBFT node (in process, over RPC) and six
// piece stores served over HTTP, with their auditors: deleting a copied
// object leaves the deal running; deleting the last copy closes it on
// chain and refunds exactly what the chain records (the tenant's balance
// moves by the refund less the fee); the providers' books free and their
// GC deletes the pieces; an overwrite closes the replaced object's deal.
func TestStoreDeleteClosesDealOnChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a chain node")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tenant := mustKey(t)
	rpc, cc, lookup, stores := startStorageChain(t, ctx, "close-e2e", tenant)

	// The index stays local here: its blobs' deals and pointer fees would
	// blur the balance and book checks (TestIndexOnNetwork covers it).
	c, put, deal := bucketClient(t, ctx, rpc, cc, tenant, map[string]string{chainnet.OptIndex: "local"})
	id := put("a")
	if d := deal(id); d.State != market.DealActive || d.Owner != tenant.Address() {
		t.Fatalf("deal after put: %+v", d)
	}
	if _, err := c.Copy(ctx, "bkt", "a", "bkt", "b", objects.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Delete(ctx, "bkt", "a")
	if err != nil || r.Err != nil || len(r.Closed) != 0 || !slices.Equal(r.Shared, []string{id}) {
		t.Fatalf("delete of a copied object: %+v %v", r, err)
	}
	if d := deal(id); d.State != market.DealActive {
		t.Fatalf("a copy still uses the deal, but it is %s", d.State)
	}

	before, err := cc.Account(ctx, tenant.Address())
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.Delete(ctx, "bkt", "b")
	if err != nil || r.Err != nil || len(r.Closed) != 1 {
		t.Fatalf("delete of the last copy: %+v %v", r, err)
	}
	d := deal(id)
	if d.State != market.DealClosed || d.Escrow != 0 || d.Refund == 0 || r.Closed[0] != (objects.ClosedDeal{Deal: id, State: market.DealClosed, Refund: d.Refund}) {
		t.Fatalf("closed: result %+v, chain %+v", r.Closed, d)
	}
	after, err := cc.Account(ctx, tenant.Address())
	if err != nil {
		t.Fatal(err)
	}
	if after.Balance-before.Balance != d.Refund-10 {
		t.Fatalf("tenant balance moved by %d, refund %d less the 10 uvis fee", after.Balance-before.Balance, d.Refund)
	}
	ps, err := cc.Providers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.StorageUsed != 0 || slices.Contains(p.Deals, id) {
			t.Fatalf("provider books after close: %+v", p)
		}
	}
	// The providers' GC now drops the deal's pieces.
	pieces := map[string]bool{}
	for _, seg := range d.Segments {
		for _, pc := range seg.Pieces {
			pieces[pc.ID] = true
		}
	}
	for i, st := range stores {
		held := 0
		for p := range pieces {
			if st.Has(p) {
				held++
			}
		}
		if held == 0 {
			t.Fatalf("provider %d held none of the deal's pieces before GC", i)
		}
		if _, err := st.GC(piecestore.DealState(lookup, st.Address()), time.Hour); err != nil {
			t.Fatal(err)
		}
		for p := range pieces {
			if st.Has(p) {
				t.Fatalf("provider %d kept piece %s of a closed deal", i, p)
			}
		}
	}

	// An overwrite closes the replaced object's deal.
	first := put("c")
	second := put("c")
	if d := deal(first); d.State != market.DealClosed {
		t.Fatalf("overwritten object's deal is %s", d.State)
	}
	if d := deal(second); d.State != market.DealActive {
		t.Fatalf("the new object's deal is %s", d.State)
	}
	// Closing again is a no-op reported as it is.
	cd, err := c.Net.(objects.DealCloser).CloseDeal(ctx, first)
	if err != nil || cd.State != market.DealClosed || cd.Refund != 0 {
		t.Fatalf("second close: %+v %v", cd, err)
	}
}

// startStorageChain starts a CometBFT node in process (100 ms blocks)
// with tenant funded and six storage providers registered, each serving
// a piece store over HTTP on a free port and running its auditor until
// ctx ends. It returns the node's RPC address, a client, the providers'
// deal lookup and their stores.
func startStorageChain(t *testing.T, ctx context.Context, chainID string, tenant *wallet.Key) (string, *chain.Client, piecestore.DealLookup, []*piecestore.Store) {
	t.Helper()
	g := app.Genesis{MinFee: 10, Balances: []app.GenesisBalance{{Address: tenant.Address(), Amount: 1_000_000_000}}}
	var keys []*wallet.Key
	for range 6 {
		k := mustKey(t)
		keys = append(keys, k)
		g.Balances = append(g.Balances, app.GenesisBalance{Address: k.Address(), Amount: 10_000_000})
	}
	mp := market.DefaultParams()
	// No heartbeats here and no slashing: a late proof on a busy machine
	// would pay the tenant and blur the refund check.
	mp.MinStake, mp.Grace, mp.AuditWindow = 1000, 1_000_000, 1_000_000
	g.Market = &mp
	rpc := freeAddr(t)
	cn, err := chain.Start(ctx, chain.Config{Home: filepath.Join(t.TempDir(), "chain"), ChainID: chainID, Genesis: g,
		RPCListen: "tcp://" + rpc, P2PListen: "tcp://" + freeAddr(t), BlockInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Stop() })
	cc := &chain.Client{RPC: "http://" + rpc}
	eventually(t, "block 2", 60*time.Second, func() bool { h, err := cc.Height(ctx); return err == nil && h >= 2 })

	lookup := piecestore.ChainLookup(cc.Deal, chain.ErrNotFound)
	xk, _ := ecdh.X25519().GenerateKey(rand.Reader)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var stores []*piecestore.Store
	for _, k := range keys {
		st, err := piecestore.Open(t.TempDir(), 64<<20, k)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
		addr := freeAddr(t)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: piecestore.Handler(st, piecestore.DealAuthorizer(lookup))}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		s := &chain.Signer{C: cc, Key: k}
		offer := market.Offer{Endpoint: "http://" + addr, Ingress: "vimana.localhost:1", X25519: xk.PublicKey().Bytes(),
			Attributes: market.Attributes{Isolation: []string{"sandbox"}}, Capacity: market.Resources{CPUMilli: 1000, MemoryMiB: 1024},
			Prices: market.Prices{StorageMiB: 1}, Storage: 64 << 20}
		if _, err := s.Submit(ctx, market.TypeRegister, &market.Register{Offer: offer, Stake: 1_000_000}); err != nil {
			t.Fatal(err)
		}
		go (&provider.Auditor{Addr: k.Address(), Chain: cc, Submit: s, Pieces: st, Logger: quiet}).Run(ctx)
	}
	eventually(t, "providers registered", 30*time.Second, func() bool {
		ps, err := cc.Providers(ctx)
		return err == nil && len(ps) == 6
	})

	return rpc, cc, lookup, stores
}

// bucketClient is the tenant's objects.Client on the chain network at rpc
// (deals of 5000 blocks, plus extra network options) with a 4+2 bucket
// "bkt" of 256 KiB segments; put stores a 600 KiB object under a key and
// returns its deal id, deal reads a deal from the chain.
func bucketClient(t *testing.T, ctx context.Context, rpc string, cc *chain.Client, tenant *wallet.Key, extra map[string]string) (*objects.Client, func(key string) string, func(id string) market.Deal) {
	t.Helper()
	cfg := objects.DefaultConfig()
	cfg.Network = chainnet.Name
	cfg.NetworkOptions = map[string]string{chainnet.OptRPC: "http://" + rpc, chainnet.OptDealBlocks: "5000", chainnet.OptTxTimeout: "30s"}
	maps.Copy(cfg.NetworkOptions, extra)
	c, err := objects.Open(t.TempDir(), cfg, tenant.Seed())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateBucket(ctx, "bkt", index.BucketConfig{Params: storage.Params{K: 4, M: 2, SegmentSize: 256 << 10}}); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 600<<10)
	rand.Read(body)
	put := func(key string) string {
		t.Helper()
		e, err := c.Put(ctx, "bkt", key, bytes.NewReader(body), objects.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return e.Parts[0].Deal
	}
	deal := func(id string) market.Deal {
		t.Helper()
		d, err := cc.Deal(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return c, put, deal
}
