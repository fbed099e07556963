package index

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
)

// TestOwnsAndTouch: Owns accepts this owner's blob under its own name
// only (not another key's blob in the same directory, not a blob renamed
// under another bucket's name); Touch rewrites a bucket at the next
// version with the same content.
func TestOwnsAndTouch(t *testing.T) {
	ctx := context.Background()
	st := &DirStore{Dir: t.TempDir()}
	me, _ := New(st, bytes.Repeat([]byte{7}, storage.KeySize))
	other, _ := New(st, bytes.Repeat([]byte{8}, storage.KeySize))
	now := time.Unix(1, 0)
	for _, b := range []string{"alpha", "beta"} {
		if err := me.CreateBucket(ctx, b, BucketConfig{Params: storage.DefaultParams()}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.CreateBucket(ctx, "gamma", BucketConfig{Params: storage.DefaultParams()}, now); err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := st.Read(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, g := me.BlobName("alpha"), other.BlobName("gamma")
	if !me.Owns(a, read(a)) || me.Owns(g, read(g)) || !other.Owns(g, read(g)) {
		t.Fatal("Owns does not tell the owners apart")
	}
	if me.Owns(me.BlobName("beta"), read(a)) || me.Owns(a, read(a)[:4]) {
		t.Fatal("Owns accepts a renamed or truncated blob")
	}
	if _, err := me.Put(ctx, "alpha", Entry{Key: "k", Size: 1}); err != nil {
		t.Fatal(err)
	}
	v0, _ := BlobVersion(read(a))
	if err := me.Touch(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if v, _ := BlobVersion(read(a)); v != v0+1 {
		t.Fatalf("Touch: version %d → %d", v0, v)
	}
	if e, err := me.Get(ctx, "alpha", "k"); err != nil || e.Size != 1 {
		t.Fatalf("after Touch: %+v %v", e, err)
	}
	if err := me.Touch(ctx, "nope"); err == nil {
		t.Fatal("Touch of a missing bucket")
	}
}
