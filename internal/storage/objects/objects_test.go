package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/wallet"
)

var ctx = context.Background()

// testClient is a client on 6 DirStore "providers" with 4 KiB segments,
// so small objects span many segments.
func testClient(t testing.TB) *Client {
	t.Helper()
	home := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentSize = storage.LeafSize
	c, err := Open(home, cfg, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateBucket(ctx, "bkt", index.BucketConfig{Params: cfg.Params()}); err != nil {
		t.Fatal(err)
	}
	return c
}

func data(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 9))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestStoreObjectsRoundTripAndRanges(t *testing.T) {
	c := testClient(t)
	for _, n := range []int{0, 1, 4096, 4097, 3*4096 + 17} {
		want := data(n)
		key := fmt.Sprintf("dir/obj-%d", n)
		e, err := c.Put(ctx, "bkt", key, bytes.NewReader(want), PutOptions{ContentType: "application/x-test", Metadata: map[string]string{"a": "b"}})
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(want)
		if e.ETag != hex.EncodeToString(sum[:]) || e.Size != int64(n) {
			t.Fatalf("%d: etag %s size %d", n, e.ETag, e.Size)
		}
		var got bytes.Buffer
		if _, err := c.Get(ctx, "bkt", key, &got, nil); err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%d: get %v (%d bytes)", n, err, got.Len())
		}
		for _, r := range [][2]int64{{0, 1}, {1, 4095}, {4095, 2}, {4096, 4096}, {int64(n) / 2, -1}, {0, int64(n) + 10}} {
			if r[0] > int64(n) {
				continue
			}
			got.Reset()
			if err := c.ReadRange(ctx, "bkt", e, &got, r[0], r[1], nil); err != nil {
				t.Fatalf("%d range %v: %v", n, r, err)
			}
			end := int64(n)
			if r[1] >= 0 && r[0]+r[1] < end {
				end = r[0] + r[1]
			}
			if !bytes.Equal(got.Bytes(), want[r[0]:end]) {
				t.Fatalf("%d range %v: %d bytes, wrong", n, r, got.Len())
			}
		}
	}
	if _, err := c.Get(ctx, "bkt", "missing", &bytes.Buffer{}, nil); !IsNotFound(err) {
		t.Fatalf("missing: %v", err)
	}
}

func TestStoreObjectsMultipartAndCopy(t *testing.T) {
	c := testClient(t)
	id, err := c.CreateUpload(ctx, "bkt", "big", PutOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := data(9000), data(5000)
	e1, err := c.UploadPart(ctx, "bkt", id, 1, bytes.NewReader(p1))
	if err != nil {
		t.Fatal(err)
	}
	e2, err := c.UploadPart(ctx, "bkt", id, 2, bytes.NewReader(p2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Complete(ctx, "bkt", id, []Completed{{2, e2.ETag}, {1, e1.ETag}}); !errors.Is(err, ErrInvalidPart) {
		t.Fatalf("out of order: %v", err)
	}
	if _, err := c.Complete(ctx, "bkt", id, []Completed{{1, "00"}}); !errors.Is(err, ErrInvalidPart) {
		t.Fatalf("bad etag: %v", err)
	}
	e, err := c.Complete(ctx, "bkt", id, []Completed{{1, e1.ETag}, {2, `"` + e2.ETag + `"`}})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, p1...), p2...)
	var got bytes.Buffer
	if err := c.ReadRange(ctx, "bkt", e, &got, 8000, 3000, nil); err != nil || !bytes.Equal(got.Bytes(), want[8000:11000]) {
		t.Fatalf("range across parts: %v", err)
	}
	if len(e.ETag) < 3 || e.ETag[len(e.ETag)-2:] != "-2" {
		t.Fatalf("multipart etag %s", e.ETag)
	}
	if _, err := c.Copy(ctx, "bkt", "big", "bkt", "copy", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	got.Reset()
	if _, err := c.Get(ctx, "bkt", "copy", &got, nil); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("copy: %v", err)
	}
}

func TestStoreObjectsGrant(t *testing.T) {
	k, _ := wallet.FromSeed(bytes.Repeat([]byte{1}, 32))
	other, _ := wallet.FromSeed(bytes.Repeat([]byte{2}, 32))
	now := time.Unix(1_700_000_000, 0)
	tok, err := SignGrant(k, "bkt", "a/b", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	g, err := VerifyGrant(tok, k.PubKey(), now, wallet.Verify)
	if err != nil || g.Bucket != "bkt" || g.Key != "a/b" {
		t.Fatalf("verify: %v %+v", err, g)
	}
	if _, err := VerifyGrant(tok, k.PubKey(), now.Add(2*time.Hour), wallet.Verify); !errors.Is(err, ErrGrant) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := VerifyGrant(tok, other.PubKey(), now, wallet.Verify); !errors.Is(err, ErrGrant) {
		t.Fatalf("other owner: %v", err)
	}
	forged, _ := SignGrant(other, "bkt", "a/b", now.Add(time.Hour))
	if _, err := VerifyGrant(forged, k.PubKey(), now, wallet.Verify); !errors.Is(err, ErrGrant) {
		t.Fatalf("forged: %v", err)
	}
	// The body is bound by the signature: change the key, keep the signature.
	tampered, _ := SignGrant(k, "bkt", "a/c", now.Add(time.Hour))
	body := tampered[:bytes.IndexByte([]byte(tampered), '.')]
	sig := tok[bytes.IndexByte([]byte(tok), '.'):]
	if _, err := VerifyGrant(body+sig, k.PubKey(), now, wallet.Verify); !errors.Is(err, ErrGrant) {
		t.Fatalf("tampered: %v", err)
	}
}

func FuzzStoreGrantParse(f *testing.F) {
	k, _ := wallet.FromSeed(bytes.Repeat([]byte{1}, 32))
	tok, _ := SignGrant(k, "bkt", "key", time.Unix(2_000_000_000, 0))
	for _, s := range []string{tok, "", ".", "a.b", tok + "x", "eyJ2IjoxfQ.AA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := VerifyGrant(s, k.PubKey(), time.Unix(1_700_000_000, 0), wallet.Verify)
		if err == nil && (g.Bucket != "bkt" || g.Key != "key") {
			t.Fatalf("accepted a forged grant %+v", g)
		}
	})
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestStoreObjectsPutSourceError(t *testing.T) {
	c := testClient(t)
	_, err := c.Put(ctx, "bkt", "broken", &failingReader{n: 3*4096 + 5}, PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("source error: %v", err)
	}
	if _, err := c.Stat(ctx, "bkt", "broken"); !IsNotFound(err) {
		t.Fatalf("a failed put left an entry: %v", err)
	}
}

func TestStoreObjectsConfig(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/config.toml"
	if c, err := LoadConfig(path); err != nil || c.Network != "local" || c.K != 4 {
		t.Fatalf("missing file: %v %+v", err, c)
	}
	os.WriteFile(path, []byte("network = \"local\"\nlocal_stores = 3\nk = 2\nm = 1\n[network_options]\nrpc = \"http://x\"\n"), 0o600)
	c, err := LoadConfig(path)
	if err != nil || c.LocalStores != 3 || c.K != 2 || c.NetworkOptions["rpc"] != "http://x" {
		t.Fatalf("load: %v %+v", err, c)
	}
	os.WriteFile(path, []byte("nework = \"local\"\n"), 0o600)
	if _, err := LoadConfig(path); err == nil {
		t.Fatal("unknown key accepted")
	}
	os.WriteFile(path, []byte("k = 0\n"), 0o600)
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "k/m") {
		t.Fatalf("bad k: %v", err)
	}
	// Background renewal: off by default, every 10m unless told.
	if d, err := DefaultConfig().RenewEvery(); err != nil || d != DefaultRenewEvery || DefaultConfig().AutoRenewWithin != 0 {
		t.Fatalf("auto-renew defaults: %v %v", d, err)
	}
	os.WriteFile(path, []byte("auto_renew_within = 5000\nauto_renew_every = \"90s\"\n"), 0o600)
	if c, err := LoadConfig(path); err != nil || c.AutoRenewWithin != 5000 {
		t.Fatalf("auto-renew keys: %v %+v", err, c)
	} else if d, _ := c.RenewEvery(); d != 90*time.Second {
		t.Fatalf("auto_renew_every: %v", d)
	}
	for _, bad := range []string{"auto_renew_within = -1\n", "auto_renew_every = \"soon\"\n", "auto_renew_every = \"-1m\"\n"} {
		os.WriteFile(path, []byte(bad), 0o600)
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "auto_renew") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	// The registry: a test network replaces where pieces go.
	var placed bool
	RegisterNetworkForTest(t, "test-net", func(home string, cfg Config, _ []byte) (Network, error) {
		placed = true
		return NewLocalNetwork(dir+"/pieces", cfg.LocalStores)
	})
	cfg := DefaultConfig()
	cfg.Network = "test-net"
	if _, err := Open(t.TempDir(), cfg, bytes.Repeat([]byte{1}, 32)); err != nil || !placed {
		t.Fatalf("registered network not used: %v", err)
	}
	cfg.Network = "nope"
	if _, err := Open(t.TempDir(), cfg, bytes.Repeat([]byte{1}, 32)); err == nil || !strings.Contains(err.Error(), "unknown network") {
		t.Fatalf("unknown network: %v", err)
	}
}

func TestStoreObjectsReadFailsCleanly(t *testing.T) {
	c := testClient(t)
	want := data(5 * 4096)
	e, err := c.Put(ctx, "bkt", "multi", bytes.NewReader(want), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A writer that fails stops the read.
	if err := c.ReadRange(ctx, "bkt", e, failingWriter{}, 0, -1, nil); err == nil || !strings.Contains(err.Error(), "pipe closed") {
		t.Fatalf("write error: %v", err)
	}
	// Lose 3 of 6 stores (4+2 survives 2): every segment is unreadable.
	net := c.Net.(*StaticNetwork)
	net.Stores = net.Stores[3:]
	var got bytes.Buffer
	if err := c.ReadRange(ctx, "bkt", e, &got, 0, -1, nil); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("3 stores lost: %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

// movingNet is a DealNetwork and Locator over DirStores: Locate renames
// the stores listed in moved (a repair put their pieces elsewhere).
type movingNet struct {
	*StaticNetwork
	moved   map[string]string
	located int
}

func (m *movingNet) BeginPut(ctx context.Context, cfg index.BucketConfig) (*Upload, error) {
	ss, err := m.Place(ctx, cfg)
	return &Upload{Stores: ss, Commit: func(context.Context, *storage.Object) (string, error) { return "deal-1", nil }}, err
}

func (m *movingNet) Locate(_ context.Context, obj *storage.Object) (*storage.Object, error) {
	m.located++
	out := *obj
	out.Stores = nil
	for _, s := range obj.Stores {
		if to, ok := m.moved[s]; ok {
			s = to
		}
		out.Stores = append(out.Stores, s)
	}
	return &out, nil
}

// deadStore is a provider that went away but still resolves: every Get
// fails, and is counted.
type deadStore struct {
	name string
	gets *atomic.Int32
}

func (d deadStore) Name() string { return d.name }
func (d deadStore) Put(context.Context, string, []byte) error {
	return errors.New("dead")
}
func (d deadStore) Get(context.Context, string) ([]byte, error) {
	d.gets.Add(1)
	return nil, errors.New("dead")
}

// failingIndex is an index store whose writes fail while fail is set.
type failingIndex struct {
	index.Store
	fail atomic.Bool
}

func (f *failingIndex) Write(ctx context.Context, name string, data []byte) error {
	if f.fail.Load() {
		return errors.New("index store down")
	}
	return f.Store.Write(ctx, name, data)
}

// TestStoreObjectsLocateAfterRepair: the entry records the deal; a read
// that finds too few pieces where the entry says asks the Locator (once
// for the part, not per segment), reads from where the pieces are now
// and writes that back into the entry, so the next read asks no one and
// makes no request to the dead stores. A write-back that fails leaves the
// read successful; an entry overwritten meanwhile is never clobbered.
func TestStoreObjectsLocateAfterRepair(t *testing.T) {
	local, err := NewLocalNetwork(t.TempDir(), 6)
	if err != nil {
		t.Fatal(err)
	}
	net := &movingNet{StaticNetwork: local}
	ixStore := &failingIndex{Store: &index.DirStore{Dir: t.TempDir()}}
	ix, err := index.New(ixStore, bytes.Repeat([]byte{4}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ix, net, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var warned []error
	c.Warn = func(err error) { warned = append(warned, err) }
	p := storage.Params{K: 4, M: 2, SegmentSize: storage.LeafSize}
	if err := c.CreateBucket(ctx, "bkt", index.BucketConfig{Params: p}); err != nil {
		t.Fatal(err)
	}
	want := data(3*4096 + 9) // 4 segments
	e, err := c.Put(ctx, "bkt", "obj", bytes.NewReader(want), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Parts[0].Deal != "deal-1" {
		t.Fatalf("deal not recorded: %q", e.Parts[0].Deal)
	}
	if _, err := c.Copy(ctx, "bkt", "obj", "bkt", "copy", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	// "Repair" local-0..2's pieces onto spares; local-0..2 then die (still
	// resolvable, so a request to them is counted).
	var gets atomic.Int32
	net.moved = map[string]string{}
	stores := local.Stores[3:]
	for i := range 3 {
		spare := &storage.DirStore{Label: fmt.Sprintf("spare-%d", i), Dir: t.TempDir()}
		for _, seg := range e.Parts[0].Segments {
			for _, pc := range seg.Pieces {
				if b, err := local.Stores[i].Get(ctx, pc.ID); err == nil {
					spare.Put(ctx, pc.ID, b)
				}
			}
		}
		net.moved[local.Stores[i].Name()] = spare.Label
		stores = append(stores, spare, deadStore{name: local.Stores[i].Name(), gets: &gets})
	}
	net.Stores = stores
	// With the index unwritable the read succeeds; the write-back warns.
	ixStore.fail.Store(true)
	var got bytes.Buffer
	if _, err := c.Get(ctx, "bkt", "obj", &got, nil); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read after repair, index unwritable: %v", err)
	}
	if len(warned) != 1 || net.located != 1 {
		t.Fatalf("failed write-back: %d warnings %v, Locator asked %d times", len(warned), warned, net.located)
	}
	ixStore.fail.Store(false)
	warned, net.located = nil, 0
	got.Reset()
	if _, err := c.Get(ctx, "bkt", "obj", &got, nil); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read after repair: %v", err)
	}
	if net.located != 1 || gets.Load() == 0 {
		t.Fatalf("first read: Locator asked %d times (want once for the part), %d requests to dead stores", net.located, gets.Load())
	}
	now, err := c.Stat(ctx, "bkt", "obj")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range now.Parts[0].Stores {
		if strings.HasPrefix(name, "local-") && name < "local-3" {
			t.Fatalf("entry still names %s: %v", name, now.Parts[0].Stores)
		}
	}
	if now.ETag != e.ETag || !now.Created.Equal(e.Created) || now.Parts[0].Deal != e.Parts[0].Deal {
		t.Fatalf("write-back changed more than the placement: %+v", now)
	}
	// The second read goes straight to the new stores.
	gets.Store(0)
	got.Reset()
	if _, err := c.Get(ctx, "bkt", "obj", &got, nil); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("second read: %v", err)
	}
	if net.located != 1 || gets.Load() != 0 {
		t.Fatalf("second read: Locator asked %d times in all, %d requests to dead stores", net.located, gets.Load())
	}
	// The copy shares the pieces but has its own entry: its first read
	// relocates it too. A read of it that started before an overwrite
	// succeeds but leaves the new entry alone.
	old, err := c.Stat(ctx, "bkt", "copy")
	if err != nil {
		t.Fatal(err)
	}
	net.Stores = append(slices.Clone(stores), local.Stores[:3]...) // new puts land anywhere
	over, err := c.Put(ctx, "bkt", "copy", bytes.NewReader([]byte("new")), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	net.Stores = stores
	got.Reset()
	if err := c.ReadRange(ctx, "bkt", old, &got, 0, -1, nil); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read of the replaced copy: %v", err)
	}
	if net.located != 2 {
		t.Fatalf("Locator asked %d times", net.located)
	}
	if cur, err := c.Stat(ctx, "bkt", "copy"); err != nil || cur.ETag != over.ETag || cur.Size != 3 || !slices.Equal(cur.Parts[0].Stores, over.Parts[0].Stores) {
		t.Fatalf("overwrite clobbered by a write-back: %v %+v", err, cur)
	}
	if len(warned) != 0 {
		t.Fatalf("warnings: %v", warned)
	}
}
