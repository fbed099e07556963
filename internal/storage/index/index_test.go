package index

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
)

func testIndex(t *testing.T) (*Index, *DirStore) {
	t.Helper()
	st := &DirStore{Dir: t.TempDir()}
	ix, err := New(st, bytes.Repeat([]byte{7}, storage.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return ix, st
}

var ctx = context.Background()

func cfg() BucketConfig { return BucketConfig{Params: storage.DefaultParams()} }

func TestStoreIndexBuckets(t *testing.T) {
	ix, st := testIndex(t)
	for _, b := range []string{"zeta", "alpha", "mid.dle"} {
		if err := ix.CreateBucket(ctx, b, cfg(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.CreateBucket(ctx, "alpha", cfg(), time.Now()); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, bad := range []string{"", "ab", "Upper", "-x-", "a..b", strings.Repeat("a", 64)} {
		if err := ix.CreateBucket(ctx, bad, cfg(), time.Now()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	bs, err := ix.Buckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"alpha", "mid.dle", "zeta"}) {
		t.Fatalf("buckets %v", names)
	}
	// Nothing in the store names a bucket or a key.
	if _, err := ix.Put(ctx, "alpha", Entry{Key: "secret-key-name", Size: 1}); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(st.Dir)
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(st.Dir, f.Name()))
		for _, leak := range []string{"alpha", "zeta", "secret-key-name"} {
			if strings.Contains(f.Name(), leak) || bytes.Contains(b, []byte(leak)) {
				t.Fatalf("%s leaks %q", f.Name(), leak)
			}
		}
	}
	if err := ix.DeleteBucket(ctx, "alpha"); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("delete non-empty: %v", err)
	}
	if _, err := ix.Delete(ctx, "alpha", "secret-key-name"); err != nil {
		t.Fatal(err)
	}
	if err := ix.DeleteBucket(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Bucket(ctx, "alpha"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted bucket: %v", err)
	}
	// Another owner's key sees no buckets and cannot read these.
	other, _ := New(st, bytes.Repeat([]byte{8}, storage.KeySize))
	if bs, _ := other.Buckets(ctx); len(bs) != 0 {
		t.Fatalf("other owner sees %v", bs)
	}
}

// reference is the obvious O(n) listing, to compare List against.
func reference(keys []string, o ListOptions) ListResult {
	var items []string
	isCP := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		item := k
		if o.Delimiter != "" {
			if j := strings.Index(k[len(o.Prefix):], o.Delimiter); j >= 0 {
				item = k[:len(o.Prefix)+j+len(o.Delimiter)]
				isCP[item] = true
			}
		}
		if item <= o.Marker || (len(items) > 0 && items[len(items)-1] == item) {
			continue
		}
		items = append(items, item)
	}
	var r ListResult
	for i, it := range items {
		if i >= o.MaxKeys {
			r.Truncated = i > 0
			break
		}
		if isCP[it] {
			r.CommonPrefixes = append(r.CommonPrefixes, it)
		} else {
			r.Objects = append(r.Objects, Entry{Key: it})
		}
		r.NextMarker = it
	}
	if !r.Truncated {
		r.NextMarker = ""
	}
	return r
}

func keysOf(es []Entry) []string {
	var ks []string
	for _, e := range es {
		ks = append(ks, e.Key)
	}
	return ks
}

func TestStoreIndexListMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "/", "é", "z", "0", "-"}
	seen := map[string]bool{}
	var keys []string
	for len(keys) < 400 {
		var sb strings.Builder
		for range 1 + rng.IntN(6) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		if k := sb.String(); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	var entries []Entry
	for _, k := range keys {
		entries = append(entries, Entry{Key: k})
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	slices.Sort(keys)
	for n := range 2000 {
		o := ListOptions{MaxKeys: rng.IntN(12)}
		if rng.IntN(2) == 0 {
			o.Prefix = keys[rng.IntN(len(keys))][:1]
		}
		if rng.IntN(2) == 0 {
			o.Delimiter = []string{"/", "b", "é"}[rng.IntN(3)]
		}
		if rng.IntN(2) == 0 {
			o.Marker = keys[rng.IntN(len(keys))]
		}
		got, want := list(entries, o), reference(keys, o)
		if !slices.Equal(keysOf(got.Objects), keysOf(want.Objects)) || !slices.Equal(got.CommonPrefixes, want.CommonPrefixes) ||
			got.Truncated != want.Truncated || got.NextMarker != want.NextMarker {
			t.Fatalf("case %d %+v:\n got %v %v %v %q\nwant %v %v %v %q", n, o, keysOf(got.Objects), got.CommonPrefixes, got.Truncated, got.NextMarker,
				keysOf(want.Objects), want.CommonPrefixes, want.Truncated, want.NextMarker)
		}
	}
}

func TestStoreIndexPagingThroughIndex(t *testing.T) {
	ix, _ := testIndex(t)
	if err := ix.CreateBucket(ctx, "pages", cfg(), time.Now()); err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "a/1", "a/2", "b", "b/x/y", "c", "é"}
	for _, k := range []string{"é", "c", "b/x/y", "a/2", "b", "a", "a/1"} { // inserted out of order
		if _, err := ix.Put(ctx, "pages", Entry{Key: k, Size: int64(len(k))}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		r, err := ix.List(ctx, "pages", ListOptions{Marker: marker, MaxKeys: 2})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, keysOf(r.Objects)...)
		if !r.Truncated {
			break
		}
		marker = r.NextMarker
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %v want %v", got, want)
	}
	r, _ := ix.List(ctx, "pages", ListOptions{Delimiter: "/", MaxKeys: 100})
	if !slices.Equal(keysOf(r.Objects), []string{"a", "b", "c", "é"}) || !slices.Equal(r.CommonPrefixes, []string{"a/", "b/"}) {
		t.Fatalf("delimited %v %v", keysOf(r.Objects), r.CommonPrefixes)
	}
	r, _ = ix.List(ctx, "pages", ListOptions{Prefix: "b/", Delimiter: "/", MaxKeys: 100})
	if len(r.Objects) != 0 || !slices.Equal(r.CommonPrefixes, []string{"b/x/"}) {
		t.Fatalf("prefix b/: %v %v", keysOf(r.Objects), r.CommonPrefixes)
	}
	// Replace returns the old entry.
	old, err := ix.Put(ctx, "pages", Entry{Key: "a", Size: 99})
	if err != nil || old == nil || old.Size != 1 {
		t.Fatalf("replace: %v %+v", err, old)
	}
}

func TestStoreIndexCrashSafety(t *testing.T) {
	ix, st := testIndex(t)
	if err := ix.CreateBucket(ctx, "crash", cfg(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Put(ctx, "crash", Entry{Key: "kept"}); err != nil {
		t.Fatal(err)
	}
	// A crash mid-write leaves a temporary file: ignored.
	if err := os.WriteFile(filepath.Join(st.Dir, ".tmp-123"), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if e, err := ix.Get(ctx, "crash", "kept"); err != nil || e.Key != "kept" {
		t.Fatalf("after torn temp: %v", err)
	}
	if bs, err := ix.Buckets(ctx); err != nil || len(bs) != 1 {
		t.Fatalf("buckets after torn temp: %v %v", bs, err)
	}
	// A damaged blob is refused, never half-read.
	name := ix.blobName("crash")
	b, _ := os.ReadFile(filepath.Join(st.Dir, name))
	b[len(b)-1] ^= 1
	os.WriteFile(filepath.Join(st.Dir, name), b, 0o600)
	if _, err := ix.Get(ctx, "crash", "kept"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged blob: %v", err)
	}
	// A blob rolled to another version number does not verify either.
	b[len(b)-1] ^= 1
	b[7]++
	os.WriteFile(filepath.Join(st.Dir, name), b, 0o600)
	if _, err := ix.Get(ctx, "crash", "kept"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("re-versioned blob: %v", err)
	}
}

func TestStoreIndexConcurrentPuts(t *testing.T) {
	ix, st := testIndex(t)
	if err := ix.CreateBucket(ctx, "conc", cfg(), time.Now()); err != nil {
		t.Fatal(err)
	}
	// Two Index values over one directory stand for two processes.
	ix2, _ := New(st, bytes.Repeat([]byte{7}, storage.KeySize))
	done := make(chan error)
	for w, x := range []*Index{ix, ix2} {
		go func() {
			for i := range 25 {
				if _, err := x.Put(ctx, "conc", Entry{Key: string(rune('a'+w)) + string(rune('a'+i))}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := ix.Bucket(ctx, "conc"); b.Objects != 50 {
		t.Fatalf("lost updates: %d objects", b.Objects)
	}
}

func TestStoreIndexUploads(t *testing.T) {
	ix, _ := testIndex(t)
	ix.CreateBucket(ctx, "mpu", cfg(), time.Now())
	id, err := ix.CreateUpload(ctx, "mpu", Upload{Key: "big"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 1, 2} {
		if _, err := ix.PutPart(ctx, "mpu", id, Part{Number: n, Size: int64(n)}); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := ix.GetUpload(ctx, "mpu", id)
	if len(u.Parts) != 2 || u.Parts[0].Number != 1 {
		t.Fatalf("parts %+v", u.Parts)
	}
	if err := ix.DeleteBucket(ctx, "mpu"); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("bucket with upload deleted: %v", err)
	}
	if _, err := ix.CompleteUpload(ctx, "mpu", id, func(u *Upload) (Entry, error) { return Entry{Key: u.Key, Size: 3}, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.GetUpload(ctx, "mpu", id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("completed upload still there: %v", err)
	}
	if e, err := ix.Get(ctx, "mpu", "big"); err != nil || e.Size != 3 {
		t.Fatalf("completed object: %v", err)
	}
}

func TestStoreIndexCacheNeverStale(t *testing.T) {
	ix, st := testIndex(t)
	ix.CreateBucket(ctx, "cache", cfg(), time.Now())
	ix.Put(ctx, "cache", Entry{Key: "k", Size: 1})
	e, _ := ix.Get(ctx, "cache", "k") // now cached
	e.Size = 99                       // callers get copies
	if again, _ := ix.Get(ctx, "cache", "k"); again.Size != 1 {
		t.Fatalf("cached entry was modified through a returned copy: %d", again.Size)
	}
	other, _ := New(st, bytes.Repeat([]byte{7}, storage.KeySize)) // another process
	other.Put(ctx, "cache", Entry{Key: "k", Size: 2})
	if e, _ := ix.Get(ctx, "cache", "k"); e.Size != 2 {
		t.Fatalf("stale read after another writer: %d", e.Size)
	}
}

// FuzzStoreIndexList checks List against the reference listing for
// arbitrary prefix, delimiter, marker and page size over a fixed key set.
func FuzzStoreIndexList(f *testing.F) {
	keys := []string{"a", "a/", "a/1", "a/b/c", "ab", "b", "b/é", "é", "é/x", "z//y"}
	slices.Sort(keys) // byte order: "é" sorts after "z"
	var entries []Entry
	for _, k := range keys {
		entries = append(entries, Entry{Key: k})
	}
	f.Add("", "/", "", 2)
	f.Add("a", "/", "a/", 1)
	f.Add("é", "", "", 0)
	f.Add("", "//", "z", 5)
	f.Fuzz(func(t *testing.T, prefix, delim, marker string, maxKeys int) {
		o := ListOptions{Prefix: prefix, Delimiter: delim, Marker: marker, MaxKeys: maxKeys % 20}
		got, want := list(entries, o), reference(keys, o)
		if !slices.Equal(keysOf(got.Objects), keysOf(want.Objects)) || !slices.Equal(got.CommonPrefixes, want.CommonPrefixes) ||
			got.Truncated != want.Truncated || got.NextMarker != want.NextMarker {
			t.Fatalf("%+v: got %v %v %v %q want %v %v %v %q", o, keysOf(got.Objects), got.CommonPrefixes, got.Truncated, got.NextMarker,
				keysOf(want.Objects), want.CommonPrefixes, want.Truncated, want.NextMarker)
		}
	})
}
