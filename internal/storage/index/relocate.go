package index

import (
	"context"
	"errors"
	"slices"

	"github.com/vistara-labs/vimana/internal/storage"
)

// errStale aborts a relocation whose entry changed since it was read.
var errStale = errors.New("index: entry changed since it was read")

// Relocate records where the pieces of some of an entry's parts are now
// (after repairs moved them): moved maps a part's index in read.Parts to
// that part with the Stores and Placement its deal has now. It writes only
// if bucket/key is still the entry read — same ETag, creation time and
// parts as read, placement included — so a concurrent overwrite, delete
// or relocation is never undone; and only the placement changes, never
// which pieces the part has or its deal. It reports whether it wrote.
func (ix *Index) Relocate(ctx context.Context, bucket string, read *Entry, moved map[int]*storage.Object) (bool, error) {
	for pi, m := range moved {
		if pi < 0 || pi >= len(read.Parts) || !samePieces(&read.Parts[pi], m) || !placed(m) {
			return false, ErrInvalid
		}
	}
	err := ix.update(ctx, bucket, func(d *doc) error {
		i, found := d.find(read.Key)
		if !found || !sameEntry(&d.Objects[i], read) {
			return errStale
		}
		cur := &d.Objects[i]
		for pi, m := range moved {
			cur.Parts[pi].Stores = slices.Clone(m.Stores)
			cur.Parts[pi].Placement = nil
			for _, row := range m.Placement {
				cur.Parts[pi].Placement = append(cur.Parts[pi].Placement, slices.Clone(row))
			}
		}
		return nil
	})
	if errors.Is(err, errStale) {
		return false, nil
	}
	return err == nil, err
}

// sameEntry: cur is still the entry read, parts and placement included.
func sameEntry(cur, read *Entry) bool {
	if cur.ETag != read.ETag || !cur.Created.Equal(read.Created) || cur.Size != read.Size || len(cur.Parts) != len(read.Parts) {
		return false
	}
	for i := range cur.Parts {
		a, b := &cur.Parts[i], &read.Parts[i]
		if !samePieces(a, b) || !slices.Equal(a.Stores, b.Stores) ||
			!slices.EqualFunc(a.Placement, b.Placement, func(x, y []int) bool { return slices.Equal(x, y) }) {
			return false
		}
	}
	return true
}

// samePieces: a and b are the same data under the same deal.
func samePieces(a, b *storage.Object) bool {
	if a.Deal != b.Deal || a.Size != b.Size || len(a.Segments) != len(b.Segments) {
		return false
	}
	for i := range a.Segments {
		sa, sb := &a.Segments[i], &b.Segments[i]
		if sa.Index != sb.Index || len(sa.Pieces) != len(sb.Pieces) {
			return false
		}
		for j := range sa.Pieces {
			if sa.Pieces[j].ID != sb.Pieces[j].ID {
				return false
			}
		}
	}
	return true
}

// placed: every piece of m names one of m's stores.
func placed(m *storage.Object) bool {
	if len(m.Placement) != len(m.Segments) {
		return false
	}
	for si, row := range m.Placement {
		if len(row) != len(m.Segments[si].Pieces) {
			return false
		}
		for _, j := range row {
			if j < 0 || j >= len(m.Stores) {
				return false
			}
		}
	}
	return true
}
