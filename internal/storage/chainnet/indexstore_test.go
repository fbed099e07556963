package chainnet

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// fakeRegister is the storage.index register as the chain keeps it
// (version must rise; removal needs the stored version), and can be down.
type fakeRegister struct {
	ptrs map[string]market.IndexPointer
	down bool
}

func (f *fakeRegister) IndexPointers(context.Context, wallet.Address) ([]market.IndexPointer, error) {
	if f.down {
		return nil, errors.New("connection refused")
	}
	var out []market.IndexPointer
	for _, p := range f.ptrs {
		out = append(out, p)
	}
	return out, nil
}

func (f *fakeRegister) submit(_ context.Context, m *market.SetIndex) error {
	if f.down {
		return errors.New("connection refused")
	}
	cur, ok := f.ptrs[m.Name]
	switch {
	case len(m.Object) == 0 && (!ok || m.Version < cur.Version), len(m.Object) > 0 && ok && m.Version <= cur.Version:
		return ErrStale
	case len(m.Object) == 0:
		delete(f.ptrs, m.Name)
	default:
		f.ptrs[m.Name] = market.IndexPointer{Name: m.Name, Version: m.Version, Object: m.Object, Deal: m.Deal}
	}
	return nil
}

// TestIndexStoreChainDown: with the chain unreachable the index keeps
// working from its cache — reads and listings serve it (a listing warns),
// a change is kept locally with a warning — while removing a bucket
// fails (it must clear the pointer first); once the chain is back, Flush
// replicates the change and the removal goes through. Small blobs are
// inline in their pointer, so no provider is involved.
func TestIndexStoreChainDown(t *testing.T) {
	ctx := context.Background()
	key, _ := wallet.FromSeed(bytes.Repeat([]byte{3}, 32))
	reg := &fakeRegister{ptrs: map[string]market.IndexPointer{}}
	var warned []error
	st := &IndexStore{Local: &index.DirStore{Dir: t.TempDir()}, Net: &Network{Chain: &fakeChain{}, Key: key}, Chain: reg,
		Submit: reg.submit, Master: bytes.Repeat([]byte{9}, storage.KeySize), Params: storage.Params{K: 4, M: 2, SegmentSize: IndexSegmentSize},
		TTL: time.Nanosecond, Warn: func(err error) { warned = append(warned, err) }}
	ix, err := index.New(st, bytes.Repeat([]byte{5}, storage.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(100, 0)
	for _, b := range []string{"keep", "gone"} {
		if err := ix.CreateBucket(ctx, b, index.BucketConfig{Params: storage.DefaultParams()}, now); err != nil {
			t.Fatal(err)
		}
	}
	name := ix.BlobName("keep")
	if p := reg.ptrs[name]; p.Version != 1 || p.Deal != "" || len(reg.ptrs) != 2 {
		t.Fatalf("pointers after create: %+v", reg.ptrs)
	}

	reg.down = true
	if _, err := ix.Put(ctx, "keep", index.Entry{Key: "k", Size: 3}); err != nil {
		t.Fatalf("put with the chain down: %v", err)
	}
	if len(warned) != 1 || reg.ptrs[name].Version != 1 {
		t.Fatalf("put with the chain down: warnings %v, pointer %+v", warned, reg.ptrs[name])
	}
	if e, err := ix.Get(ctx, "keep", "k"); err != nil || e.Size != 3 {
		t.Fatalf("read from the cache: %+v %v", e, err)
	}
	if bs, err := ix.Buckets(ctx); err != nil || len(bs) != 2 {
		t.Fatalf("buckets from the cache: %+v %v", bs, err)
	}
	if err := ix.DeleteBucket(ctx, "gone"); err == nil {
		t.Fatal("a bucket removed while its pointer cannot be cleared")
	}

	reg.down = false
	if err := ix.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if p := reg.ptrs[name]; p.Version != 2 {
		t.Fatalf("after Flush the pointer is %+v, want version 2", p)
	}
	if err := ix.DeleteBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.ptrs[ix.BlobName("gone")]; ok || len(reg.ptrs) != 1 {
		t.Fatalf("pointers after the removal: %+v", reg.ptrs)
	}

	// A new cache recovers the bucket from the inline pointer alone.
	fresh := &IndexStore{Local: &index.DirStore{Dir: t.TempDir()}, Net: st.Net, Chain: reg, Submit: reg.submit,
		Master: st.Master, Params: st.Params, Warn: st.Warn}
	ix2, _ := index.New(fresh, bytes.Repeat([]byte{5}, storage.KeySize))
	if e, err := ix2.Get(ctx, "keep", "k"); err != nil || e.Size != 3 {
		t.Fatalf("recovered entry: %+v %v", e, err)
	}
}
