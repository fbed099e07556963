package index

import (
	"context"
	"sort"
	"strings"
)

// ListOptions select and page a listing, as S3's ListObjects.
type ListOptions struct {
	Prefix    string // only keys starting with it
	Delimiter string // roll keys up to the first Delimiter after Prefix into a common prefix
	Marker    string // start after this key or common prefix (exclusive)
	MaxKeys   int    // objects + common prefixes per page; ≤ 0 means an empty page
}

// ListResult is one page.
type ListResult struct {
	Objects        []Entry
	CommonPrefixes []string
	Truncated      bool
	NextMarker     string // the last key or common prefix of this page, when Truncated
}

// List pages through a bucket in lexicographic (byte) order of keys.
func (ix *Index) List(ctx context.Context, bucket string, o ListOptions) (ListResult, error) {
	d, err := ix.view(ctx, bucket)
	if err != nil {
		return ListResult{}, err
	}
	return list(d.Objects, o), nil
}

// list is the paging over sorted entries.
func list(objs []Entry, o ListOptions) ListResult {
	var r ListResult
	start := o.Marker
	if o.Prefix > start {
		start = o.Prefix
	}
	i := sort.Search(len(objs), func(i int) bool { return objs[i].Key >= start })
	count := 0
	for i < len(objs) {
		key := objs[i].Key
		if !strings.HasPrefix(key, o.Prefix) {
			break // sorted: no later key has the prefix
		}
		if key <= o.Marker {
			i++
			continue
		}
		item, isPrefix := key, false
		if o.Delimiter != "" {
			if j := strings.Index(key[len(o.Prefix):], o.Delimiter); j >= 0 {
				item, isPrefix = key[:len(o.Prefix)+j+len(o.Delimiter)], true
			}
		}
		if isPrefix && item <= o.Marker { // the marker was this prefix: skip its keys
			i = skipPrefix(objs, i, item)
			continue
		}
		if count >= o.MaxKeys {
			r.Truncated = count > 0
			break
		}
		count++
		r.NextMarker = item
		if isPrefix {
			r.CommonPrefixes = append(r.CommonPrefixes, item)
			i = skipPrefix(objs, i, item)
			continue
		}
		r.Objects = append(r.Objects, objs[i])
		i++
	}
	if !r.Truncated {
		r.NextMarker = ""
	}
	return r
}

// skipPrefix returns the index of the first key at or after i without p.
func skipPrefix(objs []Entry, i int, p string) int {
	return i + sort.Search(len(objs)-i, func(j int) bool { return !strings.HasPrefix(objs[i+j].Key, p) })
}
