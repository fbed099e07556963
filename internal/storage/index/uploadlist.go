package index

import (
	"context"
	"sort"
	"strings"
)

// UploadListOptions select and page pending multipart uploads, as S3's
// ListMultipartUploads.
type UploadListOptions struct {
	Prefix    string // only keys starting with it
	Delimiter string // roll keys up to the first Delimiter after Prefix into a common prefix
	// KeyMarker and UploadIDMarker: start after this upload. With an
	// empty UploadIDMarker (or KeyMarker, which makes S3 ignore the id),
	// every upload of KeyMarker is skipped; KeyMarker may be a common
	// prefix, whose keys are then skipped too.
	KeyMarker      string
	UploadIDMarker string
	MaxUploads     int // uploads + common prefixes per page; ≤ 0 means an empty page
}

// UploadListResult is one page.
type UploadListResult struct {
	Uploads        []Upload
	CommonPrefixes []string
	Truncated      bool
	// When Truncated: the last upload's key and id, or the last common
	// prefix and "" — the next page's markers.
	NextKeyMarker, NextUploadIDMarker string
}

// ListUploads pages through a bucket's pending uploads in S3's order: by
// key (bytes), then by upload id. Ids start with the initiation time
// (CreateUpload), so within a key that is also initiation order.
func (ix *Index) ListUploads(ctx context.Context, bucket string, o UploadListOptions) (UploadListResult, error) {
	d, err := ix.view(ctx, bucket)
	if err != nil {
		return UploadListResult{}, err
	}
	r := listUploads(d.Uploads, o)
	for i := range r.Uploads {
		r.Uploads[i].Parts = nil // listings do not need them; d is shared
	}
	return r, nil
}

// listUploads is the paging over uploads sorted by key, then id.
func listUploads(us []Upload, o UploadListOptions) UploadListResult {
	var r UploadListResult
	idMarker := o.UploadIDMarker
	if o.KeyMarker == "" {
		idMarker = ""
	}
	// after reports whether the upload comes after the markers.
	after := func(u *Upload) bool {
		return u.Key > o.KeyMarker || (idMarker != "" && u.Key == o.KeyMarker && u.ID > idMarker)
	}
	start := max(o.KeyMarker, o.Prefix)
	i := sort.Search(len(us), func(i int) bool { return us[i].Key >= start })
	count := 0
	for i < len(us) {
		u := &us[i]
		if !strings.HasPrefix(u.Key, o.Prefix) {
			break // sorted: no later key has the prefix
		}
		if !after(u) {
			i++
			continue
		}
		item, isPrefix := u.Key, false
		if o.Delimiter != "" {
			if j := strings.Index(u.Key[len(o.Prefix):], o.Delimiter); j >= 0 {
				item, isPrefix = u.Key[:len(o.Prefix)+j+len(o.Delimiter)], true
			}
		}
		if isPrefix && item <= o.KeyMarker { // the marker was this prefix, or inside it
			i = skipUploads(us, i, item)
			continue
		}
		if count >= o.MaxUploads {
			r.Truncated = count > 0
			break
		}
		count++
		if isPrefix {
			r.CommonPrefixes = append(r.CommonPrefixes, item)
			r.NextKeyMarker, r.NextUploadIDMarker = item, ""
			i = skipUploads(us, i, item)
			continue
		}
		r.Uploads = append(r.Uploads, *u)
		r.NextKeyMarker, r.NextUploadIDMarker = u.Key, u.ID
		i++
	}
	if !r.Truncated {
		r.NextKeyMarker, r.NextUploadIDMarker = "", ""
	}
	return r
}

// skipUploads returns the index of the first upload at or after i whose
// key does not start with p.
func skipUploads(us []Upload, i int, p string) int {
	return i + sort.Search(len(us)-i, func(j int) bool { return !strings.HasPrefix(us[i+j].Key, p) })
}

// PartListResult is one page of an upload's parts.
type PartListResult struct {
	Parts          []Part
	Truncated      bool
	NextPartMarker int // the last part number of this page, when Truncated
}

// ListParts pages through parts (sorted by number) as S3's ListParts:
// those numbered above marker, at most limit (≤ 0: an empty page).
func ListParts(parts []Part, marker, limit int) PartListResult {
	var r PartListResult
	i := sort.Search(len(parts), func(i int) bool { return parts[i].Number > marker })
	for ; i < len(parts); i++ {
		if len(r.Parts) >= limit {
			r.Truncated = len(r.Parts) > 0
			break
		}
		r.Parts = append(r.Parts, parts[i])
	}
	if r.Truncated {
		r.NextPartMarker = r.Parts[len(r.Parts)-1].Number
	}
	return r
}
