package chainnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func provider(t *testing.T, region string, free uint64) market.Provider {
	t.Helper()
	k, err := wallet.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return market.Provider{Address: k.Address(), Endpoint: "http://127.0.0.1:1", Status: market.ProviderActive,
		Attributes: market.Attributes{Region: region}, Storage: 1 << 30, StorageUsed: 1<<30 - free}
}

func cfg(k, m int, allowed, denied []string) index.BucketConfig {
	return index.BucketConfig{Params: storage.Params{K: k, M: m, SegmentSize: 1 << 20}, AllowedRegions: allowed, DeniedRegions: denied}
}

func TestPick(t *testing.T) {
	var ps []market.Provider
	for i, r := range []string{"eu", "eu", "us", "us", "ap", "", "eu"} {
		ps = append(ps, provider(t, r, uint64(100+i)))
	}
	inactive := provider(t, "eu", 1000)
	inactive.Status = "lost"
	full := provider(t, "eu", 0)
	noStorage := provider(t, "eu", 0)
	noStorage.Storage, noStorage.StorageUsed = 0, 0
	pricey := provider(t, "eu", 1000)
	pricey.Prices.StorageMiB = 50
	ps = append(ps, inactive, full, noStorage, pricey)

	for _, tc := range []struct {
		name     string
		cfg      index.BucketConfig
		price    uint64
		want     int    // providers picked, 0 = error
		regions  string // every picked provider's region is in this set
		wantMost bool   // the first pick has the most free storage
	}{
		{name: "any region 4+2", cfg: cfg(4, 2, nil, nil), price: 10, want: 6, wantMost: true},
		{name: "any price takes the pricey one", cfg: cfg(4, 2, nil, nil), want: 6},
		{name: "allowed eu+us", cfg: cfg(3, 2, []string{"eu", "us"}, nil), price: 10, want: 5, regions: "eu us"},
		{name: "allowed eu only, 4 needed", cfg: cfg(2, 2, []string{"eu"}, nil), price: 10, want: 0},
		{name: "denied eu", cfg: cfg(2, 2, nil, []string{"eu"}), price: 10, want: 4, regions: "us ap "},
		{name: "denied eu and us", cfg: cfg(2, 2, nil, []string{"eu", "us"}), price: 10, want: 0},
		{name: "too few at all", cfg: cfg(6, 3, nil, nil), price: 10, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pick(ps, tc.cfg, tc.price)
			if tc.want == 0 {
				if !errors.Is(err, ErrProviders) {
					t.Fatalf("err %v, want ErrProviders", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("picked %d, want %d", len(got), tc.want)
			}
			seen := map[wallet.Address]bool{}
			for _, p := range got {
				if seen[p.Address] {
					t.Fatalf("provider %s picked twice", p.Address)
				}
				seen[p.Address] = true
				if p.Status != market.ProviderActive || p.StorageUsed >= p.Storage {
					t.Fatalf("ineligible provider picked: %+v", p)
				}
				if tc.price > 0 && p.Prices.StorageMiB > tc.price {
					t.Fatalf("provider over the price picked: %+v", p)
				}
				if tc.regions != "" && !bytes.Contains([]byte(" "+tc.regions+" "), []byte(" "+p.Attributes.Region+" ")) {
					t.Fatalf("provider in region %q picked, want one of %q", p.Attributes.Region, tc.regions)
				}
			}
			for i := 1; i < len(got); i++ {
				if got[i-1].Storage-got[i-1].StorageUsed < got[i].Storage-got[i].StorageUsed {
					t.Fatal("not ordered by free storage")
				}
			}
		})
	}
}

type fakeChain struct {
	provs  []market.Provider
	height int64
	deals  map[string]market.Deal
}

func (f *fakeChain) Providers(context.Context) ([]market.Provider, error) { return f.provs, nil }
func (f *fakeChain) Height(context.Context) (int64, error)                { return f.height, nil }
func (f *fakeChain) Deal(_ context.Context, id string) (market.Deal, error) {
	d, ok := f.deals[id]
	if !ok {
		return d, errors.New("not found on chain")
	}
	return d, nil
}

// open records msg as the chain would (the deal's pieces by provider address).
func (f *fakeChain) open(owner wallet.Address, m *market.StorageDeal) string {
	id := market.DealID(owner, m.Object)
	d := market.Deal{ID: id, Owner: owner, Object: m.Object, K: m.K, M: m.M, State: market.DealActive}
	for _, seg := range m.Segments {
		ds := market.DealSegment{Size: seg.Size}
		for _, p := range seg.Pieces {
			ds.Pieces = append(ds.Pieces, market.StoredPiece{ID: p.ID, Root: p.Root, Provider: m.Providers[p.Provider]})
		}
		d.Segments = append(d.Segments, ds)
	}
	if f.deals == nil {
		f.deals = map[string]market.Deal{}
	}
	f.deals[id] = d
	return id
}

// TestBeginPutCommit: the deal msg names the chosen providers in the
// object's store order, covers the deposit, and carries the deal id the
// pieces were uploaded under.
func TestBeginPutCommit(t *testing.T) {
	fc := &fakeChain{height: 100}
	for range 6 {
		fc.provs = append(fc.provs, provider(t, "", 1<<20))
	}
	fc.provs[2].Prices.StorageMiB = 3
	key, _ := wallet.Generate(rand.Reader)
	var sent *market.StorageDeal
	n := &Network{Chain: fc, Key: key, DealBlocks: 1000, Submit: func(_ context.Context, m *market.StorageDeal) error { sent = m; return nil }}
	var _ objects.DealNetwork = n
	up, err := n.BeginPut(context.Background(), cfg(4, 2, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	// Put into DirStores named like the chosen providers (no HTTP here).
	stores := make([]storage.PieceStore, len(up.Stores))
	for i, s := range up.Stores {
		stores[i] = &storage.DirStore{Label: s.Name(), Dir: t.TempDir()}
	}
	data := make([]byte, 3<<20)
	rand.Read(data)
	obj, err := storage.Put(context.Background(), bytes.NewReader(data), stores, bytes.Repeat([]byte{1}, 32), storage.Params{K: 4, M: 2, SegmentSize: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deal, err := up.Commit(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if sent == nil || market.DealID(key.Address(), sent.Object) != deal {
		t.Fatalf("deal %s, msg %+v", deal, sent)
	}
	if sent.PricePerMiB != 3 || sent.Expiry != 1100 || len(sent.Providers) != 6 || len(sent.Segments) != 3 {
		t.Fatalf("msg: price %d expiry %d providers %d segments %d", sent.PricePerMiB, sent.Expiry, len(sent.Providers), len(sent.Segments))
	}
	for i, s := range obj.Stores {
		if sent.Providers[i].String() != s {
			t.Fatalf("provider %d is %s, object store %s", i, sent.Providers[i], s)
		}
	}
	res, err := n.Resolve(context.Background(), append([]string{"local-0"}, obj.Stores...))
	if err != nil || len(res) != 6 {
		t.Fatalf("resolve: %d stores, %v", len(res), err)
	}
}

func TestOpenOptions(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	c := objects.DefaultConfig()
	c.Network = Name
	if _, err := Open("", c, seed); err == nil {
		t.Fatal("no rpc accepted")
	}
	c.NetworkOptions = map[string]string{OptRPC: "http://127.0.0.1:1", "bogus": "1"}
	if _, err := Open("", c, seed); err == nil {
		t.Fatal("unknown option accepted")
	}
	c.NetworkOptions = map[string]string{OptRPC: "http://127.0.0.1:1", OptDealBlocks: "x"}
	if _, err := Open("", c, seed); err == nil {
		t.Fatal("bad deal_blocks accepted")
	}
	c.NetworkOptions = map[string]string{OptRPC: "http://127.0.0.1:1", OptDealBlocks: "50", OptPrice: "2", OptRepairAt: "5", OptTxTimeout: "5s"}
	net, err := Open("", c, seed)
	if err != nil {
		t.Fatal(err)
	}
	if n := net.(*Network); n.DealBlocks != 50 || n.Price != 2 || n.RepairAt != 5 {
		t.Fatalf("%+v", n)
	}
}

// TestLocate: a repair moved a killed provider's pieces to a spare;
// with two more holders gone the entry's placement no longer reads, the
// deal's (Locate) does.
func TestLocate(t *testing.T) {
	fc := &fakeChain{height: 10}
	for range 7 {
		fc.provs = append(fc.provs, provider(t, "", 1<<20))
	}
	key, _ := wallet.Generate(rand.Reader)
	n := &Network{Chain: fc, Key: key, DealBlocks: 100}
	n.Submit = func(_ context.Context, m *market.StorageDeal) error { fc.open(key.Address(), m); return nil }
	up, err := n.BeginPut(context.Background(), cfg(4, 2, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]*storage.DirStore{}
	for _, p := range fc.provs {
		a := p.Address.String()
		dirs[a] = &storage.DirStore{Label: a, Dir: t.TempDir()}
	}
	var stores []storage.PieceStore
	for _, s := range up.Stores {
		stores = append(stores, dirs[s.Name()])
	}
	data := make([]byte, 3<<20+5)
	rand.Read(data)
	master := bytes.Repeat([]byte{5}, 32)
	obj, err := storage.Put(context.Background(), bytes.NewReader(data), stores, master, storage.Params{K: 4, M: 2, SegmentSize: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if obj.Deal, err = up.Commit(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	// The spare is the provider not chosen; "repair" piece 1 of each segment onto it.
	var spare market.Provider
	for _, p := range fc.provs {
		if !slicesContains(obj.Stores, p.Address.String()) {
			spare = p
		}
	}
	d := fc.deals[obj.Deal]
	lost := d.Segments[0].Pieces[1].Provider
	for si, seg := range obj.Segments {
		for i, pc := range d.Segments[si].Pieces {
			if pc.Provider != lost {
				continue
			}
			b, err := dirs[lost.String()].Get(context.Background(), seg.Pieces[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := dirs[spare.Address.String()].Put(context.Background(), seg.Pieces[i].ID, b); err != nil {
				t.Fatal(err)
			}
			d.Segments[si].Pieces[i].Provider = spare.Address
		}
	}
	// Gone: the repaired provider and two more original holders, so the
	// entry's placement has 3 of 6 pieces per segment, the deal's 4.
	gone := map[string]bool{lost.String(): true, d.Segments[0].Pieces[2].Provider.String(): true, d.Segments[0].Pieces[3].Provider.String(): true}
	live := map[string]storage.PieceStore{}
	for a, s := range dirs {
		if !gone[a] {
			live[a] = s
		}
	}
	if err := storage.Get(context.Background(), obj, live, master, &bytes.Buffer{}); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("stale placement read: %v, want ErrUnavailable (3 of 6 holders gone)", err)
	}
	moved, err := n.Locate(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := storage.Get(context.Background(), moved, live, master, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("read after Locate: %v", err)
	}
	// A deal that disagrees with the object is refused.
	bad := *obj
	bad.Segments = append([]storage.Segment(nil), obj.Segments...)
	bad.Segments[0].Pieces = append([]storage.Piece(nil), obj.Segments[0].Pieces...)
	bad.Segments[0].Pieces[0].ID = bad.Segments[1].Pieces[0].ID
	if _, err := n.Locate(context.Background(), &bad); err == nil {
		t.Fatal("mismatched deal accepted")
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
