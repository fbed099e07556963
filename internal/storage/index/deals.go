package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Objects on a deal network carry the id of the storage deal that pays
// for their pieces (storage.Object.Deal), and a metadata-only copy shares
// its source's deal. The two calls below let the object client end a deal
// only when no entry needs it any more: Copy makes a copy's read and
// write one step under the lock (so a source removed meanwhile is never
// copied), and Unreferenced scans every bucket under the lock. Together a
// deal's references can only grow from a live one: once Unreferenced
// finds none, none can appear.

// Copy puts at dstBucket the entry build makes from srcBucket/srcKey,
// reading the source and writing the copy under one lock, and returns the
// new entry and the one it replaced (nil if none).
func (ix *Index) Copy(ctx context.Context, srcBucket, srcKey, dstBucket string, build func(src Entry) Entry) (e, old *Entry, err error) {
	unlock, err := ix.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	src, err := ix.view(ctx, srcBucket)
	if err != nil {
		return nil, nil, err
	}
	i, found := src.find(srcKey)
	if !found {
		return nil, nil, fmt.Errorf("object %s/%s: %w", srcBucket, srcKey, ErrNotFound)
	}
	ne := build(src.Objects[i]) // a copy: src may be shared
	if !ValidKey(ne.Key) {
		return nil, nil, fmt.Errorf("%w: object key %q", ErrInvalid, ne.Key)
	}
	err = ix.updateLocked(ctx, dstBucket, func(d *doc) error {
		j, found := d.find(ne.Key)
		if found {
			prev := d.Objects[j]
			old = &prev
			d.Objects[j] = ne
			return nil
		}
		d.Objects = slices.Insert(d.Objects, j, ne)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &ne, old, nil
}

// Unreferenced returns those of deals (in their order, without
// duplicates) that no object and no pending upload's part in any of this
// owner's buckets names. Blobs that do not open under this owner's key
// are not this owner's and are skipped.
func (ix *Index) Unreferenced(ctx context.Context, deals []string) ([]string, error) {
	var want []string
	for _, id := range deals {
		if id != "" && !slices.Contains(want, id) {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	unlock, err := ix.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	names, err := ix.st.List(ctx)
	if err != nil {
		return nil, err
	}
	used := func(id string) bool {
		i := slices.Index(want, id)
		if i >= 0 {
			want = slices.Delete(want, i, i+1)
		}
		return len(want) == 0
	}
	for _, n := range names {
		d, _, err := ix.load(ctx, n, true)
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ix.blobName(d.Name) != n {
			continue
		}
		for _, e := range d.Objects {
			for _, p := range e.Parts {
				if p.Deal != "" && used(p.Deal) {
					return nil, nil
				}
			}
		}
		for _, u := range d.Uploads {
			for _, p := range u.Parts {
				if p.Object.Deal != "" && used(p.Object.Deal) {
					return nil, nil
				}
			}
		}
	}
	return want, nil
}
