package index

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
)

func placedPart(stores ...string) storage.Object {
	return storage.Object{Size: 10, Deal: "d1", Stores: stores,
		Segments:  []storage.Segment{{Index: 0, Size: 10, Pieces: []storage.Piece{{ID: "p0"}, {ID: "p1"}}}},
		Placement: [][]int{{0, 1}}}
}

// Relocate writes only the placement, only over the entry read.
func TestStoreIndexRelocate(t *testing.T) {
	ix, _ := testIndex(t)
	ix.CreateBucket(ctx, "rel", cfg(), time.Now())
	put := func(etag string) *Entry {
		t.Helper()
		e := Entry{Key: "k", Size: 10, ETag: etag, Created: time.Now().UTC(), Parts: []storage.Object{placedPart("a", "b")}}
		if _, err := ix.Put(ctx, "rel", e); err != nil {
			t.Fatal(err)
		}
		got, err := ix.Get(ctx, "rel", "k")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	read := put("e1")
	moved := placedPart("c", "b")
	// A different object under the same key, or one whose pieces differ,
	// is refused before anything is written.
	other := placedPart("c", "b")
	other.Segments[0].Pieces[1].ID = "px"
	for _, m := range []map[int]*storage.Object{{1: &moved}, {0: &other}, {0: {Deal: "d1"}}} {
		if ok, err := ix.Relocate(ctx, "rel", read, m); ok || !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad relocation %v: %v %v", m, ok, err)
		}
	}
	if ok, err := ix.Relocate(ctx, "rel", read, map[int]*storage.Object{0: &moved}); !ok || err != nil {
		t.Fatalf("relocate: %v %v", ok, err)
	}
	if e, _ := ix.Get(ctx, "rel", "k"); !slices.Equal(e.Parts[0].Stores, []string{"c", "b"}) || e.ETag != "e1" {
		t.Fatalf("after relocate: %+v", e)
	}
	// The same read again is stale now (the placement it saw is gone).
	again := placedPart("d", "b")
	if ok, err := ix.Relocate(ctx, "rel", read, map[int]*storage.Object{0: &again}); ok || err != nil {
		t.Fatalf("stale relocate: %v %v", ok, err)
	}
	// Overwritten or deleted since the read: left alone.
	read = put("e1")
	put("e2")
	if ok, err := ix.Relocate(ctx, "rel", read, map[int]*storage.Object{0: &moved}); ok || err != nil {
		t.Fatalf("relocate over an overwrite: %v %v", ok, err)
	}
	if e, _ := ix.Get(ctx, "rel", "k"); e.ETag != "e2" || !slices.Equal(e.Parts[0].Stores, []string{"a", "b"}) {
		t.Fatalf("overwrite clobbered: %+v", e)
	}
	ix.Delete(ctx, "rel", "k")
	if ok, err := ix.Relocate(ctx, "rel", read, map[int]*storage.Object{0: &moved}); ok || err != nil {
		t.Fatalf("relocate of a deleted key: %v %v", ok, err)
	}
	if _, err := ix.Get(ctx, "rel", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key came back: %v", err)
	}
}
