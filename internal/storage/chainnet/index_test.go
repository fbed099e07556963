package chainnet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/chainnet"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

// versions records the versions written to the local cache per blob.
type versions struct {
	index.Store
	mu sync.Mutex
	w  map[string][]uint64
}

func (v *versions) Write(ctx context.Context, name string, data []byte) error {
	ver, _ := index.BlobVersion(data)
	v.mu.Lock()
	v.w[name] = append(v.w[name], ver)
	v.mu.Unlock()
	return v.Store.Write(ctx, name, data)
}

func (v *versions) Lock(ctx context.Context) (func(), error) { return v.Store.(index.Locker).Lock(ctx) }

// TestIndexOnNetwork: the bucket index replicated through a real
// CometBFT node and six HTTP piece stores. A client puts objects into two
// buckets (one index blob large enough for pieces under a deal, one
// inline); a second client on an empty home with the same wallet lists
// the same buckets and objects and reads them byte-exact; a replaced
// blob's deal closes; a writer whose cached version is stale is refused
// by the chain and re-applies its change to the newer version (nothing
// is lost); a deleted bucket clears its pointer; with debounce a change
// waits in the cache until Close flushes it or an overwrite is about to
// close the replaced object's deal, and one that lost the race
// to another writer is kept aside with a warning; a change whose replication
// failed is pushed by a later process's Sync and pulled by a new home's.
func TestIndexOnNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a chain node")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tenant := mustKey(t)
	rpc, cc, _, _ := startStorageChain(t, ctx, "index-e2e", tenant)
	cfg := objects.DefaultConfig()
	cfg.Network = chainnet.Name
	cfg.NetworkOptions = map[string]string{chainnet.OptRPC: "http://" + rpc, chainnet.OptDealBlocks: "5000", chainnet.OptTxTimeout: "30s"}
	openAt := func(home string) (*objects.Client, *chainnet.IndexStore) {
		t.Helper()
		c, err := objects.Open(home, cfg, tenant.Seed())
		if err != nil {
			t.Fatal(err)
		}
		st, ok := c.Index.Store().(*chainnet.IndexStore)
		if !ok {
			t.Fatalf("index store is %T", c.Index.Store())
		}
		st.Warn = func(err error) { t.Errorf("replication warning: %v", err) }
		return c, st
	}
	open := func() (*objects.Client, *chainnet.IndexStore) { t.Helper(); return openAt(t.TempDir()) }
	pointers := func() map[string]market.IndexPointer {
		t.Helper()
		ps, err := cc.IndexPointers(ctx, tenant.Address())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]market.IndexPointer{}
		for _, p := range ps {
			m[p.Name] = p
		}
		return m
	}

	a, stA := open()
	rec := &versions{Store: stA.Local, w: map[string][]uint64{}}
	stA.Local = rec
	stA.TTL = time.Hour // a's reads never notice b's writes: its later put is based on a stale version
	small := index.BucketConfig{Params: storage.Params{K: 4, M: 2, SegmentSize: 256 << 10}}
	for _, b := range []string{"photos", "docs"} {
		if err := a.CreateBucket(ctx, b, small); err != nil {
			t.Fatal(err)
		}
	}
	data := map[string][]byte{}
	put := func(c *objects.Client, bucket, key string, n int) {
		t.Helper()
		body := make([]byte, n)
		rand.Read(body)
		if _, err := c.Put(ctx, bucket, key, bytes.NewReader(body), objects.PutOptions{ContentType: "application/octet-stream"}); err != nil {
			t.Fatal(err)
		}
		data[bucket+"/"+key] = body
	}
	put(a, "photos", "cat.jpg", 600<<10)
	put(a, "photos", "dog.jpg", 700<<10)
	put(a, "docs", "note.txt", 100)

	photos, docs := a.Index.BlobName("photos"), a.Index.BlobName("docs")
	ps := pointers()
	if len(ps) != 2 || ps[photos].Deal == "" || ps[docs].Deal != "" {
		t.Fatalf("pointers: %+v (want photos under a deal, docs inline)", ps)
	}
	if d, err := cc.Deal(ctx, ps[photos].Deal); err != nil || d.State != market.DealActive || d.Owner != tenant.Address() {
		t.Fatalf("photos index deal: %+v %v", d, err)
	}
	// The blob's previous deal closed when the pointer moved on.
	oldDeal := ps[photos].Deal
	put(a, "photos", "owl.jpg", 300<<10)
	if d, err := cc.Deal(ctx, oldDeal); err != nil || d.State != market.DealClosed {
		t.Fatalf("replaced index blob's deal: %+v %v", d, err)
	}

	// A new home with the same wallet recovers everything.
	check := func(c *objects.Client, want map[string][]byte) {
		t.Helper()
		bs, err := c.Index.Buckets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		count := 0
		for _, b := range bs {
			names = append(names, b.Name)
			count += b.Objects
		}
		buckets := map[string]bool{}
		for k := range want {
			buckets[k[:bytes.IndexByte([]byte(k), '/')]] = true
		}
		if len(names) != len(buckets) || count != len(want) {
			t.Fatalf("recovered buckets %v with %d objects, want %d buckets with %d", names, count, len(buckets), len(want))
		}
		for k, body := range want {
			i := bytes.IndexByte([]byte(k), '/')
			var buf bytes.Buffer
			if _, err := c.Get(ctx, k[:i], k[i+1:], &buf, nil); err != nil {
				t.Fatalf("get %s: %v", k, err)
			}
			if !bytes.Equal(buf.Bytes(), body) {
				t.Fatalf("%s: %d bytes back, not the %d put", k, buf.Len(), len(body))
			}
		}
	}
	b, _ := open()
	check(b, data)
	if l, err := b.Index.List(ctx, "photos", index.ListOptions{MaxKeys: 100}); err != nil || len(l.Objects) != 3 || l.Objects[0].Key != "cat.jpg" {
		t.Fatalf("listing photos on the new home: %+v %v", l, err)
	}

	// b writes; a, whose cache still has the older version, writes next:
	// the chain refuses a's version, a fetches b's and re-applies its put.
	put(b, "photos", "from-b", 50)
	before := pointers()[photos].Version
	put(a, "photos", "from-a", 60)
	after := pointers()[photos].Version
	w := rec.w[photos]
	twice := 0 // a's own refused attempt, then b's version fetched
	for _, v := range w {
		if v == before {
			twice++
		}
	}
	if after != before+1 || len(w) < 3 || w[len(w)-1] != after || twice != 2 {
		t.Fatalf("stale writer: chain version %d → %d, a wrote versions %v", before, after, w)
	}
	// The register itself: a stale version is refused with code 12.
	signer := &chain.Signer{C: cc, Key: tenant}
	_, _, err := signer.SubmitAndWait(ctx, market.TypeSetIndex, &market.SetIndex{Name: photos, Version: after, Object: []byte("{}")}, 30*time.Second)
	var te *chain.TxError
	if !errors.As(err, &te) || te.Code != market.CodeState {
		t.Fatalf("stale storage.index: %v", err)
	}
	c3, _ := open()
	check(c3, data) // both writers' objects are there

	// Removing a bucket clears its pointer.
	if _, err := b.Delete(ctx, "docs", "note.txt"); err != nil {
		t.Fatal(err)
	}
	if err := b.Index.DeleteBucket(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	delete(data, "docs/note.txt")
	if ps := pointers(); len(ps) != 1 || ps[docs].Name != "" {
		t.Fatalf("pointers after removing docs: %+v", ps)
	}

	// Debounced (the S3 gateway): the change waits in the cache until
	// Close flushes it.
	d, stD := open()
	stD.Delay = time.Hour
	if stD.Debounce() != time.Hour {
		t.Fatal("debounce not on")
	}
	v0 := pointers()[photos].Version
	put(d, "photos", "later", 10)
	if v := pointers()[photos].Version; v != v0 {
		t.Fatalf("debounced write replicated at once (%d → %d)", v0, v)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if v := pointers()[photos].Version; v != v0+1 {
		t.Fatalf("after Close the pointer is at %d, want %d", v, v0+1)
	}
	// An overwrite closes the replaced object's deal, so the debounced
	// index is replicated first: the network's index never names a closed
	// deal.
	v2 := pointers()[photos].Version
	oldCat, err := d.Stat(ctx, "photos", "cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	put(d, "photos", "cat.jpg", 500<<10)
	if v := pointers()[photos].Version; v != v2+1 {
		t.Fatalf("overwrite under debounce: pointer %d → %d, want it replicated before the close", v2, v)
	}
	if dl, err := cc.Deal(ctx, oldCat.Parts[0].Deal); err != nil || dl.State != market.DealClosed {
		t.Fatalf("overwritten object's deal: %+v %v", dl, err)
	}
	// A debounced change that loses the race to another machine's write
	// is kept aside in the cache (nobody re-applies it), with a warning;
	// the winner's version replaces it.
	var dWarn []error
	stD.Warn = func(err error) { dWarn = append(dWarn, err) }
	put(d, "photos", "lost-race", 10)
	x, _ := open()
	put(x, "photos", "winner", 10)
	if err := d.Close(ctx); !errors.Is(err, index.ErrConflict) || len(dWarn) != 1 {
		t.Fatalf("flush of a change that lost the race: %v, warnings %v", err, dWarn)
	}
	delete(data, "photos/lost-race")
	names, _ := stD.Local.List(ctx)
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, photos+".conflict-v") }) {
		t.Fatalf("no blob kept aside: %v", names)
	}
	if _, err := d.Stat(ctx, "photos", "winner"); err != nil {
		t.Fatalf("the winner's version is not in the cache: %v", err)
	}
	c4, _ := open()
	check(c4, data)

	// A change whose replication failed (the chain refused to take it)
	// stays in the cache; `store sync` in a later process pushes it, and
	// a new home's sync pulls it.
	home := t.TempDir()
	e, stE := openAt(home)
	var warned []error
	stE.Warn = func(err error) { warned = append(warned, err) }
	submit := stE.Submit
	stE.Submit = func(context.Context, *market.SetIndex) error { return errors.New("chain unreachable") }
	v1 := pointers()[photos].Version
	put(e, "photos", "offline", 20)
	if len(warned) != 1 || pointers()[photos].Version != v1 {
		t.Fatalf("failed replication: warnings %v, pointer %d → %d", warned, v1, pointers()[photos].Version)
	}
	stE.Submit = submit
	_, stF := openAt(home) // a later process on the same home
	res, err := stF.Sync(ctx, e.Index.Owns)
	if err != nil || len(res) != 1 || res[0].Name != photos || res[0].Action != "pushed" || res[0].Version != v1+1 {
		t.Fatalf("sync on the home with the change: %+v %v", res, err)
	}
	if v := pointers()[photos].Version; v != v1+1 {
		t.Fatalf("after sync the pointer is at %d, want %d", v, v1+1)
	}
	g, stG := open()
	if res, err := stG.Sync(ctx, g.Index.Owns); err != nil || len(res) != 1 || res[0].Action != "pulled" || res[0].Version != v1+1 {
		t.Fatalf("sync on a new home: %+v %v", res, err)
	}
	if res, err := stG.Sync(ctx, g.Index.Owns); err != nil || len(res) != 1 || res[0].Action != "current" {
		t.Fatalf("second sync: %+v %v", res, err)
	}
	check(g, data)

	// Renewal: a blob whose deal ends soon is stored again under a new
	// deal by rewriting it at the next version; the old deal closes.
	exp, err := stG.Expiring(ctx, 1<<40)
	if err != nil || len(exp) != 1 || exp[0] != photos {
		t.Fatalf("expiring: %v %v", exp, err)
	}
	if exp, err := stG.Expiring(ctx, 0); err != nil || len(exp) != 0 {
		t.Fatalf("expiring within 0 blocks: %v %v", exp, err)
	}
	was := pointers()[photos]
	if err := g.Index.Touch(ctx, "photos"); err != nil {
		t.Fatal(err)
	}
	now := pointers()[photos]
	if now.Version != was.Version+1 || now.Deal == "" || now.Deal == was.Deal {
		t.Fatalf("renewed pointer %+v, was %+v", now, was)
	}
	if d, err := cc.Deal(ctx, was.Deal); err != nil || d.State != market.DealClosed {
		t.Fatalf("renewed blob's old deal: %+v %v", d, err)
	}
	check(g, data)
}
