package index

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
)

// TestStoreIndexDealReferences: a deal is referenced while any object (in
// any bucket, copies included) or pending upload part names it.
func TestStoreIndexDealReferences(t *testing.T) {
	ix, _ := testIndex(t)
	for _, b := range []string{"one", "two"} {
		if err := ix.CreateBucket(ctx, b, cfg(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	unref := func(want []string, deals ...string) {
		t.Helper()
		got, err := ix.Unreferenced(ctx, deals)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Unreferenced(%v) = %v, want %v", deals, got, want)
		}
	}
	obj := func(deals ...string) []storage.Object {
		var out []storage.Object
		for _, d := range deals {
			out = append(out, storage.Object{Deal: d})
		}
		return out
	}
	if _, err := ix.Put(ctx, "one", Entry{Key: "a", Parts: obj("d1", "d2")}); err != nil {
		t.Fatal(err)
	}
	unref([]string{"d3"}, "d1", "d3", "d2", "d3", "")
	e, old, err := ix.Copy(ctx, "one", "a", "two", func(src Entry) Entry { src.Key = "copy"; return src })
	if err != nil || old != nil || e.Key != "copy" || e.Parts[0].Deal != "d1" {
		t.Fatalf("copy: %+v %+v %v", e, old, err)
	}
	if _, err := ix.Delete(ctx, "one", "a"); err != nil {
		t.Fatal(err)
	}
	unref(nil, "d1", "d2") // the copy in the other bucket still names both
	if _, _, err := ix.Copy(ctx, "one", "a", "two", func(src Entry) Entry { return src }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("copy of a removed object: %v", err)
	}
	if _, _, err := ix.Copy(ctx, "two", "copy", "two", func(src Entry) Entry { src.Key = ""; return src }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("copy to an invalid key: %v", err)
	}
	// Copying over an existing key returns the entry it replaced.
	if _, err := ix.Put(ctx, "one", Entry{Key: "b", Parts: obj("d4")}); err != nil {
		t.Fatal(err)
	}
	if _, old, err := ix.Copy(ctx, "two", "copy", "one", func(src Entry) Entry { src.Key = "b"; return src }); err != nil || old == nil || old.Parts[0].Deal != "d4" {
		t.Fatalf("copy over b: old %+v, %v", old, err)
	}
	unref([]string{"d4"}, "d4", "d1")
	id, err := ix.CreateUpload(ctx, "one", Upload{Key: "mp"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.PutPart(ctx, "one", id, Part{Number: 1, Object: storage.Object{Deal: "d5"}}); err != nil {
		t.Fatal(err)
	}
	unref(nil, "d5")
	for _, k := range []string{"b"} {
		if _, err := ix.Delete(ctx, "one", k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ix.Delete(ctx, "two", "copy"); err != nil {
		t.Fatal(err)
	}
	unref([]string{"d1", "d2"}, "d1", "d2", "d5")
}
