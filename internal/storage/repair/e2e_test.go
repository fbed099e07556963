package repair_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/provider"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/chainnet"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/storage/repair"
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

// node is one storage provider: its piece store served over HTTP on a
// real socket (stop and start it on the same address), and its auditor.
type node struct {
	key   *wallet.Key
	store *piecestore.Store
	addr  string
	h     http.Handler
	srv   *http.Server
}

func (n *node) start(t *testing.T) {
	t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port was just released
		if l, err = net.Listen("tcp", n.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	n.srv = &http.Server{Handler: n.h}
	go n.srv.Serve(l)
}

func (n *node) stop() { n.srv.Close() }

func (n *node) url() string { return "http://" + n.addr }

// world is a chain with seven storage providers (six for the object, one
// spare for repair), a tenant and a repair worker.
type world struct {
	cc      *chain.Client
	nodes   []*node
	tenant  *wallet.Key
	tsigner *chain.Signer
	worker  *wallet.Key
}

func newWorld(t *testing.T, ctx context.Context, capacity uint64) *world {
	t.Helper()
	w := &world{tenant: mustKey(t), worker: mustKey(t)}
	g := app.Genesis{MinFee: 10, Balances: []app.GenesisBalance{
		{Address: w.tenant.Address(), Amount: 1_000_000_000}, {Address: w.worker.Address(), Amount: 1_000_000}}}
	for range 7 {
		k := mustKey(t)
		w.nodes = append(w.nodes, &node{key: k})
		g.Balances = append(g.Balances, app.GenesisBalance{Address: k.Address(), Amount: 10_000_000})
	}
	mp := market.DefaultParams()
	mp.MinStake, mp.Grace, mp.AuditWindow, mp.AuditsPerBlock = 1000, 1_000_000, 5, 8
	g.Market = &mp
	rpc := freeAddr(t)
	cn, err := chain.Start(ctx, chain.Config{Home: filepath.Join(t.TempDir(), "chain"), ChainID: "storage-e2e", Genesis: g,
		RPCListen: "tcp://" + rpc, P2PListen: "tcp://" + freeAddr(t), BlockInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Stop() })
	w.cc = &chain.Client{RPC: "http://" + rpc}
	eventually(t, "block 2", 60*time.Second, func() bool { h, err := w.cc.Height(ctx); return err == nil && h >= 2 })
	lookup := piecestore.ChainLookup(w.cc.Deal, chain.ErrNotFound)
	xk, _ := ecdh.X25519().GenerateKey(rand.Reader)
	for _, n := range w.nodes {
		if n.store, err = piecestore.Open(t.TempDir(), capacity, n.key); err != nil {
			t.Fatal(err)
		}
		n.addr, n.h = freeAddr(t), piecestore.Handler(n.store, piecestore.DealAuthorizer(lookup))
		n.start(t)
		t.Cleanup(n.stop)
		s := &chain.Signer{C: w.cc, Key: n.key}
		offer := market.Offer{Endpoint: n.url(), Ingress: "vimana.localhost:1", X25519: xk.PublicKey().Bytes(),
			Attributes: market.Attributes{Isolation: []string{"sandbox"}}, Capacity: market.Resources{CPUMilli: 1000, MemoryMiB: 1024},
			Prices: market.Prices{StorageMiB: 1}, Storage: capacity}
		if _, err := s.Submit(ctx, market.TypeRegister, &market.Register{Offer: offer, Stake: 1_000_000}); err != nil {
			t.Fatal(err)
		}
		a := &provider.Auditor{Addr: n.key.Address(), Chain: w.cc, Submit: s, Pieces: n.store, Logger: quiet()}
		go a.Run(ctx)
	}
	eventually(t, "providers registered", 30*time.Second, func() bool {
		ps, err := w.cc.Providers(ctx)
		return err == nil && len(ps) == 7
	})
	w.tsigner = &chain.Signer{C: w.cc, Key: w.tenant}
	return w
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func mustKey(t *testing.T) *wallet.Key {
	k, err := wallet.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// put stores data on nodes 0..5 under a new deal and opens the deal.
func (w *world) put(t *testing.T, ctx context.Context, data []byte, p storage.Params) (*storage.Object, string) {
	t.Helper()
	object := make([]byte, 32)
	rand.Read(object)
	id := market.DealID(w.tenant.Address(), object)
	var stores []storage.PieceStore
	for _, n := range w.nodes[:6] {
		stores = append(stores, &piecestore.Client{Label: n.key.Address().String(), URL: n.url(), Key: w.tenant, Deal: id, Provider: n.key.Address()})
	}
	obj, err := storage.Put(ctx, bytes.NewReader(data), stores, masterKey, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := w.cc.Height(ctx)
	var provs []wallet.Address
	for _, n := range w.nodes[:6] {
		provs = append(provs, n.key.Address())
	}
	// The deal tx lands a block or two later: pay from a little earlier.
	msg, err := chainnet.NewDeal(obj, object, provs, 1, h-5, h+100_000)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.tsigner.SubmitAndWait(ctx, market.TypeStorageDeal, msg, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return obj, id
}

var masterKey = bytes.Repeat([]byte{5}, 32)

// placement rebuilds the object's store list and placement from the deal
// on chain (pieces move on repair) and the stores to read from, leaving
// out the nodes in down.
func (w *world) placement(t *testing.T, ctx context.Context, obj *storage.Object, id string, down ...int) (*storage.Object, map[string]storage.PieceStore) {
	t.Helper()
	d, err := w.cc.Deal(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	o := *obj
	o.Stores, o.Placement = nil, nil
	idx := map[wallet.Address]int{}
	stores := map[string]storage.PieceStore{}
	for i, n := range w.nodes {
		idx[n.key.Address()] = i
		o.Stores = append(o.Stores, n.key.Address().String())
		isDown := false
		for _, dn := range down {
			isDown = isDown || dn == i
		}
		if !isDown {
			stores[n.key.Address().String()] = &piecestore.Client{URL: n.url(), Deal: id}
		}
	}
	for _, seg := range d.Segments {
		var pl []int
		for _, pc := range seg.Pieces {
			pl = append(pl, idx[pc.Provider])
		}
		o.Placement = append(o.Placement, pl)
	}
	return &o, stores
}

func (w *world) get(t *testing.T, ctx context.Context, obj *storage.Object, id string, down ...int) ([]byte, error) {
	t.Helper()
	o, stores := w.placement(t, ctx, obj, id, down...)
	var out bytes.Buffer
	err := storage.Get(ctx, o, stores, masterKey, &out)
	return out.Bytes(), err
}

// TestStorageEndToEnd: a real CometBFT node (RPC over a socket), seven
// providers serving piece stores over HTTP on real sockets and answering
// audits, a tenant putting an object with 4+2 across six, two providers
// killed (the object still reads), a piece corrupted on disk (the chain
// records the failed audit and flags the deal; reads skip the piece), and
// the repair worker restoring six healthy pieces on the spare provider.
func TestStorageEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node and seven piece stores")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// VIMANA_STORAGE_E2E_MIB=256 runs it at benchmark size (64 MiB segments).
	size, params := 3<<20+4321, storage.Params{SegmentSize: 1 << 20, K: 4, M: 2}
	if v, err := strconv.Atoi(os.Getenv("VIMANA_STORAGE_E2E_MIB")); err == nil && v > 0 {
		size, params = v<<20, storage.DefaultParams()
	}
	w := newWorld(t, ctx, uint64(size))
	data := make([]byte, size)
	rand.Read(data)
	t0 := time.Now()
	obj, id := w.put(t, ctx, data, params)
	t.Logf("put %d bytes and opened the deal in %s", size, time.Since(t0).Round(time.Millisecond))
	if len(obj.Segments) < 4 {
		t.Fatalf("%d segments", len(obj.Segments))
	}
	// Kill two providers' servers: any 4 of 6 read the object.
	w.nodes[1].stop()
	w.nodes[4].stop()
	got, err := w.get(t, ctx, obj, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with two providers down: %v", err)
	}
	w.nodes[1].start(t)
	w.nodes[4].start(t)

	// Corrupt the piece node 0 holds of segment 0.
	seg := obj.Segments[0]
	var victim string
	for i, pc := range seg.Pieces {
		if obj.Placement[0][i] == 0 {
			victim = pc.ID
		}
	}
	b, err := w.nodes[0].store.Get(victim)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := w.nodes[0].store.Path(victim)
	// One flipped byte per 1 KiB leaf: audits sample single leaves, so
	// damage to every leaf fails whichever leaf the chain asks for.
	for i := 100; i < len(b); i += 1024 {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Reads skip it: with node 1 down too, segment 0 still has four good
	// pieces (2, 3, 4, 5).
	if got, err := w.get(t, ctx, obj, id, 1); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a corrupt piece and a provider down: %v", err)
	}
	// The chain challenges it sooner or later; the provider cannot prove
	// it; the miss is recorded and the deal flagged.
	var d market.Deal
	eventually(t, "the corrupt piece to fail its audit", 90*time.Second, func() bool {
		d, err = w.cc.Deal(ctx, id)
		return err == nil && d.Repair
	})
	failed := 0
	for _, s := range d.Segments {
		for _, pc := range s.Pieces {
			if pc.Failed {
				failed++
				if pc.ID != victim {
					t.Fatalf("healthy piece %s failed (victim %s): %+v", pc.ID, victim, d)
				}
			}
		}
	}
	p0, _ := w.cc.Provider(ctx, w.nodes[0].key.Address())
	if failed != 1 || p0.Stake >= 1_000_000 || p0.Reputation >= market.InitialReputation {
		t.Fatalf("after the failed audit: %d failed pieces, provider 0 stake %d reputation %d", failed, p0.Stake, p0.Reputation)
	}

	// The repair worker rebuilds it from four healthy pieces onto node 6.
	rw := &repair.Worker{Key: w.worker, Chain: w.cc, Submit: &chain.Signer{C: w.cc, Key: w.worker}, Logger: quiet()}
	start := time.Now()
	go rw.Run(ctx)
	eventually(t, "the repair", 60*time.Second, func() bool {
		d, err = w.cc.Deal(ctx, id)
		return err == nil && !d.Repair
	})
	t.Logf("repair took %s: fetched %d bytes, uploaded %d bytes for one lost %d-byte piece",
		time.Since(start).Round(time.Millisecond), rw.Fetched.Load(), rw.Uploaded.Load(), seg.ShardSize)
	healthy := 0
	for _, s := range d.Segments {
		for _, pc := range s.Pieces {
			if !pc.Failed {
				healthy++
			}
		}
	}
	if healthy != 6*len(d.Segments) || d.Segments[0].Pieces[indexOf(obj, 0, 0)].Provider != w.nodes[6].key.Address() {
		t.Fatalf("after repair: %d healthy pieces; segment 0's lost piece is on %s", healthy, d.Segments[0].Pieces[indexOf(obj, 0, 0)].Provider)
	}
	if !w.nodes[6].store.Has(victim) {
		t.Fatal("the spare provider does not hold the rebuilt piece")
	}
	// The repaired object reads with two providers down, one of them the
	// one that lost the piece.
	if got, err := w.get(t, ctx, obj, id, 0, 3); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after repair: %v", err)
	}
	// GC on node 0 drops the piece it no longer holds for the deal.
	lookup := piecestore.ChainLookup(w.cc.Deal, chain.ErrNotFound)
	freed, err := w.nodes[0].store.GC(piecestore.DealState(lookup, w.nodes[0].key.Address()), time.Hour)
	if err != nil || freed != uint64(seg.ShardSize) || w.nodes[0].store.Has(victim) {
		t.Fatalf("gc freed %d (%v)", freed, err)
	}
}

func indexOf(obj *storage.Object, s, store int) int {
	for i, st := range obj.Placement[s] {
		if st == store {
			return i
		}
	}
	panic(fmt.Sprintf("store %d holds nothing of segment %d", store, s))
}
