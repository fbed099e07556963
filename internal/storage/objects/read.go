package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

// Get writes bucket/key to w.
func (c *Client) Get(ctx context.Context, bucket, key string, w io.Writer, progress func(int64)) (*index.Entry, error) {
	e, err := c.Index.Get(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return e, c.ReadRange(ctx, bucket, e, w, 0, -1, progress)
}

// ReadRange writes n bytes of e, an entry of bucket, from offset off to w
// (n < 0: to the end), fetching only the segments that hold them. With
// more than one segment to read, the next segment is fetched and decoded
// while the current one is written (at most two decoded segments in
// memory), so a slow writer — a network connection, a disk — and
// decoding overlap. When pieces had moved (see getUnit), a read that
// succeeds writes where they are now back into e's index entry.
func (c *Client) ReadRange(ctx context.Context, bucket string, e *index.Entry, w io.Writer, off, n int64, progress func(int64)) error {
	if off < 0 || off > e.Size {
		return fmt.Errorf("%w: range offset %d of %d bytes", index.ErrInvalid, off, e.Size)
	}
	if n < 0 || off+n > e.Size {
		n = e.Size - off
	}
	units := plan(e, off, n)
	rl := &relocation{}
	if err := c.readUnits(ctx, units, rl, &countWriter{w: w, progress: progress}); err != nil {
		return err
	}
	c.writeBack(ctx, bucket, e, rl)
	return nil
}

// readUnits writes units to w in order.
func (c *Client) readUnits(ctx context.Context, units []unit, rl *relocation, w io.Writer) error {
	if len(units) <= 1 {
		for _, u := range units {
			if err := c.getUnit(ctx, u, rl, &window{w: w, skip: u.skip, left: u.take}); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type decoded struct {
		buf  *bytes.Buffer
		unit unit
		err  error
	}
	ch := make(chan decoded) // unbuffered: decode one ahead of the writer
	go func() {
		defer close(ch)
		for _, u := range units {
			buf := bytes.NewBuffer(make([]byte, 0, u.size))
			err := c.getUnit(ctx, u, rl, buf)
			select {
			case ch <- decoded{buf, u, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for d := range ch {
		if d.err != nil {
			return d.err
		}
		b := d.buf.Bytes()[d.unit.skip:]
		if _, err := w.Write(b[:min(int64(len(b)), d.unit.take)]); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// unit is one segment of a read: skip bytes of it, then take.
type unit struct {
	obj        *storage.Object // the segment alone, placed as the entry has it
	part, seg  int             // which: e.Parts[part].Segments[seg]
	whole      *storage.Object // e.Parts[part]
	skip, take int64
	size       int // the segment's plaintext size
}

// plan cuts [off, off+n) of e into per-segment units.
func plan(e *index.Entry, off, n int64) []unit {
	var units []unit
	for i := range e.Parts {
		part := &e.Parts[i]
		if n == 0 {
			break
		}
		if off >= part.Size {
			off -= part.Size
			continue
		}
		take := min(n, part.Size-off)
		first, sub, skip := slice(part, off, take)
		left := take
		for si := range sub.Segments {
			size := sub.Segments[si].Size
			t := min(left, int64(size)-skip)
			units = append(units, unit{obj: segmentOf(part, first+si), part: i, seg: first + si, whole: part, skip: skip, take: t, size: size})
			left -= t
			skip = 0
		}
		off, n = 0, n-take
	}
	return units
}

// segmentOf is segment si of obj as an object of its own (keeping the
// segment's index, so its key and associated data still match).
func segmentOf(obj *storage.Object, si int) *storage.Object {
	one := *obj
	one.Segments = obj.Segments[si : si+1]
	if obj.Placement != nil {
		one.Placement = obj.Placement[si : si+1]
	}
	one.Size = int64(obj.Segments[si].Size)
	return &one
}

// relocation is what one read learned from the Locator: for each part
// (by index in the entry) whose pieces had moved, the part as its deal
// places it now. Later segments of a part read from there directly.
type relocation struct {
	mu    sync.Mutex
	parts map[int]*storage.Object
}

func (r *relocation) get(part int) *storage.Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parts[part]
}

func (r *relocation) set(part int, obj *storage.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parts == nil {
		r.parts = map[int]*storage.Object{}
	}
	r.parts[part] = obj
}

// getUnit reads one segment. When too few of its pieces are where the
// entry says and the network is a Locator, it asks where the deal has
// the part's pieces now (after repairs) and reads once more: a unit is one
// segment, and storage.Get writes nothing before it has k good pieces.
// The answer is kept in rl for the part's other segments and for
// writeBack.
func (c *Client) getUnit(ctx context.Context, u unit, rl *relocation, w io.Writer) error {
	if moved := rl.get(u.part); moved != nil {
		return c.getSegment(ctx, segmentOf(moved, u.seg), w)
	}
	err := c.getSegment(ctx, u.obj, w)
	loc, ok := c.Net.(Locator)
	if !ok || u.obj.Deal == "" || !errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	moved, lerr := loc.Locate(ctx, u.whole)
	if lerr != nil {
		return fmt.Errorf("%w (locating its pieces: %v)", err, lerr)
	}
	if len(moved.Segments) != len(u.whole.Segments) || len(moved.Placement) != len(moved.Segments) {
		return fmt.Errorf("%w (the located object has %d segments and %d placements, the entry's %d)",
			err, len(moved.Segments), len(moved.Placement), len(u.whole.Segments))
	}
	if err := c.getSegment(ctx, segmentOf(moved, u.seg), w); err != nil {
		return err
	}
	rl.set(u.part, moved)
	return nil
}

func (c *Client) getSegment(ctx context.Context, obj *storage.Object, w io.Writer) error {
	stores, err := c.Net.Resolve(ctx, obj.Stores)
	if err != nil {
		return err
	}
	return storage.Get(ctx, obj, stores, c.master, w)
}

// writeBack records in the index where a read found moved pieces, so the
// next read goes there first. Best effort: the read has succeeded, and an
// entry changed meanwhile (overwritten, deleted, already relocated) is
// left as it is (index.Relocate).
func (c *Client) writeBack(ctx context.Context, bucket string, e *index.Entry, rl *relocation) {
	rl.mu.Lock()
	moved := rl.parts
	rl.mu.Unlock()
	if len(moved) == 0 {
		return
	}
	if _, err := c.Index.Relocate(ctx, bucket, e, moved); err != nil {
		err = fmt.Errorf("objects: recording where %s/%s's pieces moved: %w", bucket, e.Key, err)
		if c.Warn != nil {
			c.Warn(err)
			return
		}
		slog.Warn("index entry not updated after a read found moved pieces", "err", err)
	}
}

// slice returns the index of the first segment of obj that holds
// [off, off+n), the part of obj whose segments hold it, and how many
// leading bytes of its first segment to skip. Segments keep their
// index, so their keys and associated data still match.
func slice(obj *storage.Object, off, n int64) (int, *storage.Object, int64) {
	sub := *obj
	var start, skip int64
	first, last, found := 0, len(obj.Segments)-1, false
	for i, s := range obj.Segments {
		end := start + int64(s.Size)
		if !found && off < end {
			first, skip, found = i, off-start, true
		}
		if found && off+n <= end {
			last = i
			break
		}
		start = end
	}
	sub.Segments = obj.Segments[first : last+1]
	if obj.Placement != nil {
		sub.Placement = obj.Placement[first : last+1]
	}
	sub.Size = n
	return first, &sub, skip
}

// window passes on bytes [skip, skip+left) of what is written to it.
type window struct {
	w          io.Writer
	skip, left int64
}

func (v *window) Write(p []byte) (int, error) {
	total := len(p)
	if v.skip > 0 {
		d := min(v.skip, int64(len(p)))
		p, v.skip = p[d:], v.skip-d
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	if len(p) > 0 {
		if _, err := v.w.Write(p); err != nil {
			return 0, err
		}
		v.left -= int64(len(p))
	}
	return total, nil
}

type countWriter struct {
	w        io.Writer
	n        int64
	progress func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.progress != nil {
		c.progress(c.n)
	}
	return n, err
}
