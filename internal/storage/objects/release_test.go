package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

// closingNet is a DealNetwork and DealCloser over DirStores: every commit
// opens deal-N, CloseDeal records the close (or fails for deals in fail).
type closingNet struct {
	*StaticNetwork
	n      int
	closed []string
	fail   map[string]bool
}

func (m *closingNet) BeginPut(ctx context.Context, cfg index.BucketConfig) (*Upload, error) {
	ss, err := m.Place(ctx, cfg)
	return &Upload{Stores: ss, Commit: func(context.Context, *storage.Object) (string, error) {
		m.n++
		return fmt.Sprintf("deal-%d", m.n), nil
	}}, err
}

func (m *closingNet) CloseDeal(_ context.Context, deal string) (ClosedDeal, error) {
	if m.fail[deal] {
		return ClosedDeal{}, errors.New("chain unreachable")
	}
	if slices.Contains(m.closed, deal) {
		return ClosedDeal{Deal: deal, State: "closed"}, nil
	}
	m.closed = append(m.closed, deal)
	return ClosedDeal{Deal: deal, State: "closed", Refund: 100}, nil
}

func closingClient(t *testing.T) (*Client, *closingNet) {
	t.Helper()
	local, err := NewLocalNetwork(t.TempDir(), 6)
	if err != nil {
		t.Fatal(err)
	}
	net := &closingNet{StaticNetwork: local, fail: map[string]bool{}}
	ix, err := index.New(&index.DirStore{Dir: t.TempDir()}, bytes.Repeat([]byte{4}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ix, net, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	p := storage.Params{K: 4, M: 2, SegmentSize: storage.LeafSize}
	for _, b := range []string{"bkt", "other"} {
		if err := c.CreateBucket(ctx, b, index.BucketConfig{Params: p}); err != nil {
			t.Fatal(err)
		}
	}
	return c, net
}

// TestStoreObjectsDeleteClosesDeal: deleting or overwriting an object
// closes its deal unless a copy (in any bucket) still names it; inline
// objects have none; a close that fails does not fail the delete.
func TestStoreObjectsDeleteClosesDeal(t *testing.T) {
	c, net := closingClient(t)
	var warned []error
	c.Warn = func(err error) { warned = append(warned, err) }
	body := data(3*4096 + 9)
	put := func(bucket, key string) string {
		t.Helper()
		e, err := c.Put(ctx, bucket, key, bytes.NewReader(body), PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return e.Parts[0].Deal
	}
	del := func(bucket, key string) *Released {
		t.Helper()
		r, err := c.Delete(ctx, bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	d1 := put("bkt", "a")
	if _, err := c.Copy(ctx, "bkt", "a", "other", "b", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := del("bkt", "a"); len(r.Closed) != 0 || !slices.Equal(r.Shared, []string{d1}) || r.Err != nil || len(net.closed) != 0 {
		t.Fatalf("delete of a copied object: %+v, closed %v", r, net.closed)
	}
	if r := del("other", "b"); len(r.Closed) != 1 || r.Closed[0].Deal != d1 || r.Refund() != 100 || len(r.Shared) != 0 {
		t.Fatalf("delete of the last copy: %+v", r)
	}

	d2 := put("bkt", "c")
	d3 := put("bkt", "c") // overwrite
	if !slices.Equal(net.closed, []string{d1, d2}) || d3 == d2 {
		t.Fatalf("after overwrite: closed %v", net.closed)
	}
	// A copy onto an existing key replaces it: that object's deal closes.
	d4 := put("bkt", "d")
	if _, err := c.Copy(ctx, "bkt", "c", "bkt", "d", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(net.closed, []string{d1, d2, d4}) {
		t.Fatalf("after copy over d: closed %v", net.closed)
	}
	// Copy onto itself (metadata replace) keeps the deal.
	if _, err := c.Copy(ctx, "bkt", "c", "bkt", "c", CopyOptions{ReplaceMetadata: true, ContentType: "x/y"}); err != nil {
		t.Fatal(err)
	}
	if len(net.closed) != 3 {
		t.Fatalf("self-copy closed a deal: %v", net.closed)
	}

	// The chain is unreachable: the delete stands, the result says why.
	net.fail[d3] = true
	del("bkt", "d") // still names d3 (copied from c): shared with c
	r := del("bkt", "c")
	if r.Err == nil || len(r.Closed) != 0 {
		t.Fatalf("failed close: %+v", r)
	}
	if _, err := c.Stat(ctx, "bkt", "c"); !IsNotFound(err) {
		t.Fatalf("object still there after a delete whose close failed: %v", err)
	}
	// Overwrites report a failed close through Warn.
	d5 := put("bkt", "e")
	net.fail[d5] = true
	put("bkt", "e")
	if len(warned) != 1 {
		t.Fatalf("warnings %v", warned)
	}

	// Inline objects have no deal.
	if _, err := c.Put(ctx, "bkt", "tiny", bytes.NewReader([]byte("hi")), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := del("bkt", "tiny"); len(r.Closed)+len(r.Shared) != 0 || r.Err != nil {
		t.Fatalf("inline delete: %+v", r)
	}
}

// TestStoreObjectsMultipartClosesDeals: a part uploaded again, parts left
// out of the completed object and the parts of an aborted upload are no
// one's data: their deals close.
func TestStoreObjectsMultipartClosesDeals(t *testing.T) {
	c, net := closingClient(t)
	body := data(2*4096 + 1)
	id, err := c.CreateUpload(ctx, "bkt", "mp", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := func(upload string, n int) *index.Part {
		t.Helper()
		p, err := c.UploadPart(ctx, "bkt", upload, n, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := part(id, 1)
	p1 := part(id, 1) // again: the first one's deal closes
	p2 := part(id, 2)
	if !slices.Equal(net.closed, []string{first.Object.Deal}) {
		t.Fatalf("after re-upload: closed %v", net.closed)
	}
	if _, err := c.Complete(ctx, "bkt", id, []Completed{{Number: 1, ETag: p1.ETag}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(net.closed, []string{first.Object.Deal, p2.Object.Deal}) {
		t.Fatalf("after complete without part 2: closed %v", net.closed)
	}
	ab, err := c.CreateUpload(ctx, "bkt", "gone", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := part(ab, 1)
	if err := c.Abort(ctx, "bkt", ab); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(net.closed, q.Object.Deal) || slices.Contains(net.closed, p1.Object.Deal) {
		t.Fatalf("after abort: closed %v", net.closed)
	}
}
