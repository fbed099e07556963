package index

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// uploadFixture: several uploads per key (ids in order), keys across
// prefixes and delimiters, in the index's order.
func uploadFixture() []Upload {
	keys := []string{"a", "a/", "a/1", "a/b/c", "ab", "b", "b/é", "é", "é/x", "z//y"}
	slices.Sort(keys) // byte order: "é" sorts after "z"
	var us []Upload
	for i, k := range keys {
		for j := range 1 + i%3 {
			us = append(us, Upload{Key: k, ID: string(rune('0' + j))})
		}
	}
	return us
}

// referenceUploads is ListMultipartUploads by its definition: every
// upload in order, filtered, rolled up, then cut after the markers and at
// the page size.
func referenceUploads(us []Upload, o UploadListOptions) UploadListResult {
	type item struct {
		key, id string
		cp      bool
	}
	var items []item
	for _, u := range us {
		if !strings.HasPrefix(u.Key, o.Prefix) {
			continue
		}
		it := item{key: u.Key, id: u.ID}
		if o.Delimiter != "" {
			if j := strings.Index(u.Key[len(o.Prefix):], o.Delimiter); j >= 0 {
				it = item{key: u.Key[:len(o.Prefix)+j+len(o.Delimiter)], cp: true}
			}
		}
		if it.cp && len(items) > 0 && items[len(items)-1] == it {
			continue
		}
		items = append(items, it)
	}
	var r UploadListResult
	n := 0
	for _, it := range items {
		switch {
		case it.cp && it.key <= o.KeyMarker:
			continue
		case !it.cp && it.key < o.KeyMarker:
			continue
		case !it.cp && it.key == o.KeyMarker && (o.KeyMarker == "" || o.UploadIDMarker == "" || it.id <= o.UploadIDMarker):
			continue
		}
		if n >= o.MaxUploads {
			r.Truncated = n > 0
			break
		}
		n++
		if it.cp {
			r.CommonPrefixes = append(r.CommonPrefixes, it.key)
		} else {
			r.Uploads = append(r.Uploads, Upload{Key: it.key, ID: it.id})
		}
		r.NextKeyMarker, r.NextUploadIDMarker = it.key, it.id
	}
	if !r.Truncated {
		r.NextKeyMarker, r.NextUploadIDMarker = "", ""
	}
	return r
}

func uploadIDs(us []Upload) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Key+"#"+u.ID)
	}
	return out
}

// FuzzStoreIndexUploads checks listUploads against the reference listing
// for arbitrary prefix, delimiter, markers and page size, and that
// following NextKeyMarker/NextUploadIDMarker visits every item once.
func FuzzStoreIndexUploads(f *testing.F) {
	us := uploadFixture()
	f.Add("", "/", "", "", 2)
	f.Add("a", "/", "a/", "", 1)
	f.Add("", "", "a/1", "0", 1)
	f.Add("é", "", "é", "0", 0)
	f.Add("", "//", "z", "1", 5)
	f.Fuzz(func(t *testing.T, prefix, delim, keyMarker, idMarker string, maxUploads int) {
		o := UploadListOptions{Prefix: prefix, Delimiter: delim, KeyMarker: keyMarker, UploadIDMarker: idMarker, MaxUploads: maxUploads % 20}
		got, want := listUploads(us, o), referenceUploads(us, o)
		if !slices.Equal(uploadIDs(got.Uploads), uploadIDs(want.Uploads)) || !slices.Equal(got.CommonPrefixes, want.CommonPrefixes) ||
			got.Truncated != want.Truncated || got.NextKeyMarker != want.NextKeyMarker || got.NextUploadIDMarker != want.NextUploadIDMarker {
			t.Fatalf("%+v: got %v %v %v %q %q want %v %v %v %q %q", o, uploadIDs(got.Uploads), got.CommonPrefixes, got.Truncated,
				got.NextKeyMarker, got.NextUploadIDMarker, uploadIDs(want.Uploads), want.CommonPrefixes, want.Truncated,
				want.NextKeyMarker, want.NextUploadIDMarker)
		}
		// Paging from the start with this page size returns what one
		// big page does.
		if o.MaxUploads <= 0 {
			return
		}
		all := listUploads(us, UploadListOptions{Prefix: prefix, Delimiter: delim, MaxUploads: len(us) + 1})
		var paged UploadListResult
		p := UploadListOptions{Prefix: prefix, Delimiter: delim, MaxUploads: o.MaxUploads}
		for range len(us) + 1 {
			r := listUploads(us, p)
			paged.Uploads = append(paged.Uploads, r.Uploads...)
			paged.CommonPrefixes = append(paged.CommonPrefixes, r.CommonPrefixes...)
			if !r.Truncated {
				break
			}
			p.KeyMarker, p.UploadIDMarker = r.NextKeyMarker, r.NextUploadIDMarker
		}
		if !slices.Equal(uploadIDs(paged.Uploads), uploadIDs(all.Uploads)) || !slices.Equal(paged.CommonPrefixes, all.CommonPrefixes) {
			t.Fatalf("paging by %d: %v %v, one page: %v %v", o.MaxUploads, uploadIDs(paged.Uploads), paged.CommonPrefixes,
				uploadIDs(all.Uploads), all.CommonPrefixes)
		}
	})
}

func TestStoreIndexListParts(t *testing.T) {
	var parts []Part
	for _, n := range []int{1, 2, 3, 5, 8} {
		parts = append(parts, Part{Number: n})
	}
	nums := func(r PartListResult) []int {
		var out []int
		for _, p := range r.Parts {
			out = append(out, p.Number)
		}
		return out
	}
	for _, tc := range []struct {
		marker, limit int
		want          []int
		truncated     bool
		next          int
	}{
		{0, 1000, []int{1, 2, 3, 5, 8}, false, 0},
		{0, 2, []int{1, 2}, true, 2},
		{2, 2, []int{3, 5}, true, 5},
		{5, 2, []int{8}, false, 0},
		{4, 1, []int{5}, true, 5},
		{8, 2, nil, false, 0},
		{0, 0, nil, false, 0},
	} {
		r := ListParts(parts, tc.marker, tc.limit)
		if !slices.Equal(nums(r), tc.want) || r.Truncated != tc.truncated || r.NextPartMarker != tc.next {
			t.Errorf("marker %d max %d: %v %v %d", tc.marker, tc.limit, nums(r), r.Truncated, r.NextPartMarker)
		}
	}
}

// Upload ids sort by initiation time, so a key's uploads list in the
// order they were started (S3's order) and page by id.
func TestStoreIndexUploadIDOrder(t *testing.T) {
	ix, _ := testIndex(t)
	ix.CreateBucket(ctx, "ids", cfg(), time.Now())
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		id, err := ix.CreateUpload(ctx, "ids", Upload{Key: "same", Created: t0.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	r, err := ix.ListUploads(ctx, "ids", UploadListOptions{MaxUploads: 3})
	if err != nil || !r.Truncated || len(r.Uploads) != 3 {
		t.Fatalf("page 1: %v %+v", err, r)
	}
	r2, err := ix.ListUploads(ctx, "ids", UploadListOptions{KeyMarker: r.NextKeyMarker, UploadIDMarker: r.NextUploadIDMarker, MaxUploads: 3})
	if err != nil || r2.Truncated {
		t.Fatalf("page 2: %v %+v", err, r2)
	}
	var got []string
	for _, u := range append(r.Uploads, r2.Uploads...) {
		got = append(got, u.ID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("listed %v, started %v", got, ids)
	}
}
