package piecestore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vistara-labs/vimana/internal/storage"
)

func serve(t *testing.T, s *Store, auth Authorizer) *httptest.Server {
	srv := httptest.NewServer(Handler(s, auth))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPRoundTrip(t *testing.T) {
	s := openStore(t, t.TempDir(), 1<<20)
	tenant, stranger := testKey(t, 1), testKey(t, 2)
	auth := func(_ context.Context, deal, _ string, k ed25519.PublicKey) error {
		if deal == testDeal && !bytes.Equal(k, tenant.PubKey()) {
			return ErrPermission
		}
		return nil
	}
	srv := serve(t, s, auth)
	c := &Client{URL: srv.URL, Key: tenant, Deal: testDeal, Provider: s.Address()}
	data := blob(3*1024+1, 7)
	id := ID(data)
	ctx := context.Background()
	if err := c.Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Receipt(id); !ok {
		t.Fatal("no receipt kept")
	}
	got, err := c.Get(ctx, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v", err)
	}
	if r, err := c.GetRange(ctx, id, 5, 10); err != nil || !bytes.Equal(r, data[5:15]) {
		t.Fatalf("range: %v", err)
	}
	if p, err := c.Prove(ctx, id, 3); err != nil || len(p.Data) != 1 {
		t.Fatalf("proof: %+v %v", p, err)
	}
	if u, err := c.Usage(ctx); err != nil || u.Used != uint64(len(data)) || u.Provider != s.Address() {
		t.Fatalf("usage: %+v %v", u, err)
	}
	// Someone else's deal: forbidden. A wrong provider key: bad receipt.
	other := &Client{URL: srv.URL, Key: stranger, Deal: testDeal}
	if err := other.Put(ctx, id, data); !errors.Is(err, ErrPermission) {
		t.Fatalf("stranger upload: %v", err)
	}
	wrong := &Client{URL: srv.URL, Key: tenant, Deal: testDeal, Provider: stranger.Address()}
	if err := wrong.Put(ctx, id, data); err == nil {
		t.Fatal("receipt from an unexpected provider accepted")
	}
	// Unsigned upload, and a bad id.
	req, _ := http.NewRequest(http.MethodPut, srv.URL+Prefix+"/"+id+"?deal="+testDeal, bytes.NewReader(data))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned upload: %v %v", res.Status, err)
	}
	if res, err := http.Get(srv.URL + Prefix + "/..%2f..%2fetc%2fpasswd"); err != nil || res.StatusCode/100 == 2 {
		t.Fatalf("traversal: %v", err)
	}
	if _, err := c.Get(ctx, ID([]byte("nope"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

// TestPipelineOverHTTP puts an object across six HTTP piece stores with
// 4+2, stops two, and reads it back byte-exact; a corrupted piece on disk
// is skipped.
func TestPipelineOverHTTP(t *testing.T) {
	tenant := testKey(t, 1)
	var stores []storage.PieceStore
	var srvs []*httptest.Server
	var disks []*Store
	for i := range 6 {
		s, err := Open(t.TempDir(), 64<<20, testKey(t, byte(10+i)))
		if err != nil {
			t.Fatal(err)
		}
		srv := serve(t, s, nil)
		srvs, disks = append(srvs, srv), append(disks, s)
		stores = append(stores, &Client{Label: srv.URL, URL: srv.URL, Key: tenant, Deal: testDeal, Provider: s.Address()})
	}
	master := bytes.Repeat([]byte{3}, 32)
	p := storage.Params{SegmentSize: 1 << 20, K: 4, M: 2}
	data := blob(3<<20+12345, 9)
	ctx := context.Background()
	obj, err := storage.Put(ctx, bytes.NewReader(data), stores, master, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]storage.PieceStore{}
	for _, s := range stores {
		byName[s.Name()] = s
	}
	srvs[1].Close()
	srvs[4].Close()
	var out bytes.Buffer
	if err := storage.Get(ctx, obj, byName, master, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get with two stores down: %v", err)
	}
	// Corrupt every piece on store 0: with 1 and 4 down, reads fail for
	// segments that need it; with 4 back up (new server) reads skip it.
	for _, seg := range obj.Segments {
		for i, pc := range seg.Pieces {
			if obj.Stores[obj.Placement[seg.Index][i]] == srvs[0].URL {
				path, _ := disks[0].path(pc.ID)
				b, _ := disks[0].Get(pc.ID)
				b[0] ^= 1
				if err := writeFile(path, b); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	srv4 := serve(t, disks[4], nil)
	byName[srvs[4].URL] = &Client{URL: srv4.URL, Key: tenant, Deal: testDeal}
	out.Reset()
	if err := storage.Get(ctx, obj, byName, master, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get with one store corrupt and one down: %v", err)
	}
}

func TestInstrumentedHandler(t *testing.T) {
	s := openStore(t, t.TempDir(), 1<<20)
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(Instrument(reg, s, Handler(s, nil)))
	t.Cleanup(srv.Close)
	c := &Client{URL: srv.URL, Key: testKey(t, 1), Deal: testDeal}
	data := blob(2*1024+9, 3)
	id := ID(data)
	ctx := context.Background()
	if err := c.Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Prove(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	c.Get(ctx, ID([]byte("absent")))
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "," + l.GetName() + "=" + l.GetValue()
				if strings.Contains(l.GetValue(), id[:16]) {
					t.Fatalf("a label carries the piece id: %s", name)
				}
			}
			switch {
			case m.Counter != nil:
				got[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[name] = m.Gauge.GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"vimana_piecestore_requests_total,code=200,op=put":   1,
		"vimana_piecestore_requests_total,code=200,op=get":   1,
		"vimana_piecestore_requests_total,code=200,op=proof": 1,
		"vimana_piecestore_requests_total,code=404,op=get":   1,
		"vimana_piecestore_pieces":                           1,
		"vimana_piecestore_used_bytes":                       float64(len(data)),
		"vimana_piecestore_capacity_bytes":                   1 << 20,
		"vimana_piecestore_received_bytes_total":             float64(len(data)),
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if out := got["vimana_piecestore_served_bytes_total"]; out < float64(len(data)) {
		t.Errorf("served %v bytes, want at least the piece (%d)", out, len(data))
	}
}
