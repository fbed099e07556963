// Package objects is a user's object store on top of the storage
// pipeline: buckets and keys in the encrypted index (storage/index), data
// through storage.Put/Get onto the piece stores a Network picks, ranged
// reads that fetch only the segments they need, multipart uploads (one
// storage object per part), metadata-only copies, and signed read grants.
// The CLI (`vimana store`) and the S3 gateway (internal/s3) are thin
// layers over a Client. Where pieces go is the Network registry: "local"
// (DirStores under --home) is built in; chain-discovered providers
// register their own.
//
// objects imports storage and storage/index only.
package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

// Client is one owner's view of the store.
type Client struct {
	Index  *index.Index
	Net    Network
	master []byte
	Now    func() time.Time
	// Warn reports a deal that could not be closed when an overwrite,
	// copy or multipart upload replaced its object (Delete returns it
	// instead); nil logs with slog.
	Warn func(error)
}

// New returns a client over an index and a network; master wraps segment keys.
func New(ix *index.Index, net Network, master []byte) (*Client, error) {
	if len(master) != storage.KeySize {
		return nil, fmt.Errorf("objects: master key must be %d bytes", storage.KeySize)
	}
	return &Client{Index: ix, Net: net, master: master, Now: time.Now}, nil
}

// Open is the client of the owner whose wallet seed is seed, with the
// index in <home>/store/index and the network cfg names. Both keys come
// from the seed (storage.MasterKey): "objects" wraps segment keys,
// "index" seals the index.
func Open(home string, cfg Config, seed []byte) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	master, err := storage.MasterKey(seed, "objects")
	if err != nil {
		return nil, err
	}
	ixKey, err := storage.MasterKey(seed, "index")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(home, "store", "index")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	net, err := OpenNetwork(home, cfg, seed)
	if err != nil {
		return nil, err
	}
	var st index.Store = &index.DirStore{Dir: dir}
	if in, ok := net.(IndexNetwork); ok { // the network keeps the index too; the directory is its cache
		if st, err = in.IndexStore(st); err != nil {
			return nil, err
		}
	}
	ix, err := index.New(st, ixKey)
	if err != nil {
		return nil, err
	}
	return New(ix, net, master)
}

// PutOptions describe a new object.
type PutOptions struct {
	ContentType string
	Metadata    map[string]string
	Progress    func(done int64) // plaintext bytes stored so far
}

// store runs the pipeline on r for bucket cfg and returns the object and
// the hex MD5 of what it read. On a DealNetwork the deal is opened only
// after every piece is stored, and its id kept in the object.
func (c *Client) store(ctx context.Context, cfg index.BucketConfig, r io.Reader, progress func(int64)) (*storage.Object, string, error) {
	var up *Upload
	var err error
	if dn, ok := c.Net.(DealNetwork); ok {
		up, err = dn.BeginPut(ctx, cfg)
	} else {
		up = &Upload{}
		up.Stores, err = c.Net.Place(ctx, cfg)
	}
	if err != nil {
		return nil, "", err
	}
	pf := newPrefetch(r, min(cfg.Params.SegmentSize, 64<<20))
	defer pf.stop()
	obj, err := storage.Put(ctx, pf, up.Stores, c.master, cfg.Params, progress)
	if err != nil {
		return nil, "", err
	}
	if up.Commit != nil && len(obj.Segments) > 0 && obj.Segments[0].Inline == nil {
		if obj.Deal, err = up.Commit(ctx, obj); err != nil {
			return nil, "", fmt.Errorf("objects: opening the storage deal: %w", err)
		}
	}
	return obj, pf.sum(), nil
}

// Put stores r as bucket/key, replacing any object there.
func (c *Client) Put(ctx context.Context, bucket, key string, r io.Reader, o PutOptions) (*index.Entry, error) {
	if !index.ValidKey(key) {
		return nil, fmt.Errorf("%w: object key %q", index.ErrInvalid, key)
	}
	b, err := c.Index.Bucket(ctx, bucket)
	if err != nil {
		return nil, err
	}
	obj, sum, err := c.store(ctx, b.Config, r, o.Progress)
	if err != nil {
		return nil, err
	}
	e := index.Entry{Key: key, Size: obj.Size, ContentType: o.ContentType, ETag: sum, Metadata: o.Metadata,
		Created: c.Now().UTC(), Parts: []storage.Object{*obj}}
	// The replaced object's deals close unless a copy still names them;
	// providers' GC then drops its pieces (PieceStore has no delete).
	old, err := c.Index.Put(ctx, bucket, e)
	if err != nil {
		return nil, err
	}
	c.released(ctx, partsOf(old))
	return &e, nil
}

// Stat returns an object's entry.
func (c *Client) Stat(ctx context.Context, bucket, key string) (*index.Entry, error) {
	return c.Index.Get(ctx, bucket, key)
}

// Get writes bucket/key to w.
func (c *Client) Get(ctx context.Context, bucket, key string, w io.Writer, progress func(int64)) (*index.Entry, error) {
	e, err := c.Index.Get(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return e, c.ReadRange(ctx, e, w, 0, -1, progress)
}

// ReadRange writes n bytes of e from offset off to w (n < 0: to the end),
// fetching only the segments that hold them. With more than one segment
// to read, the next segment is fetched and decoded while the current one
// is written (at most two decoded segments in memory), so a slow writer —
// a network connection, a disk — and decoding overlap.
func (c *Client) ReadRange(ctx context.Context, e *index.Entry, w io.Writer, off, n int64, progress func(int64)) error {
	if off < 0 || off > e.Size {
		return fmt.Errorf("%w: range offset %d of %d bytes", index.ErrInvalid, off, e.Size)
	}
	if n < 0 || off+n > e.Size {
		n = e.Size - off
	}
	units := plan(e, off, n)
	cw := &countWriter{w: w, progress: progress}
	if len(units) <= 1 {
		for _, u := range units {
			if err := c.getUnit(ctx, u, &window{w: cw, skip: u.skip, left: u.take}); err != nil {
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
			err := c.getUnit(ctx, u, buf)
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
		if _, err := cw.Write(b[:min(int64(len(b)), d.unit.take)]); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// unit is one segment of a read: skip bytes of it, then take.
type unit struct {
	obj        *storage.Object
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
		sub, skip := slice(part, off, take)
		left := take
		for si := range sub.Segments {
			one := *sub
			one.Segments = sub.Segments[si : si+1]
			if sub.Placement != nil {
				one.Placement = sub.Placement[si : si+1]
			}
			size := sub.Segments[si].Size
			t := min(left, int64(size)-skip)
			one.Size = int64(size)
			units = append(units, unit{obj: &one, skip: skip, take: t, size: size})
			left -= t
			skip = 0
		}
		off, n = 0, n-take
	}
	return units
}

// getUnit reads one segment. When too few of its pieces are where the
// entry says and the network is a Locator, it asks where the deal has
// them now (after repairs) and reads once more: a unit is one segment, and
// storage.Get writes nothing before it has k good pieces.
func (c *Client) getUnit(ctx context.Context, u unit, w io.Writer) error {
	stores, err := c.Net.Resolve(ctx, u.obj.Stores)
	if err != nil {
		return err
	}
	err = storage.Get(ctx, u.obj, stores, c.master, w)
	loc, ok := c.Net.(Locator)
	if !ok || u.obj.Deal == "" || !errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	moved, lerr := loc.Locate(ctx, u.obj)
	if lerr != nil {
		return fmt.Errorf("%w (locating its pieces: %v)", err, lerr)
	}
	if stores, err = c.Net.Resolve(ctx, moved.Stores); err != nil {
		return err
	}
	return storage.Get(ctx, moved, stores, c.master, w)
}

// slice returns the part of obj whose segments hold [off, off+n) and how
// many leading bytes of its first segment to skip. Segments keep their
// index, so their keys and associated data still match.
func slice(obj *storage.Object, off, n int64) (*storage.Object, int64) {
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
	return &sub, skip
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

// Delete removes bucket/key from the index, then closes the storage
// deals of its parts that no other entry (a copy) names. A deal that
// cannot be closed does not fail the delete: it is in the result's Err
// and runs to its expiry.
func (c *Client) Delete(ctx context.Context, bucket, key string) (*Released, error) {
	old, err := c.Index.Delete(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return c.release(ctx, partsOf(old)), nil
}

// CopyOptions: nil Metadata/empty ContentType keep the source's.
type CopyOptions struct {
	ReplaceMetadata bool
	ContentType     string
	Metadata        map[string]string
}

// Copy makes dstBucket/dstKey an object with the same data as src. It
// copies metadata only: pieces are content-addressed and immutable, and
// the segment keys are wrapped by the same owner's master key, so both
// entries point at the same pieces — and share the same storage deals,
// which therefore close only when the last entry naming them goes
// (docs/decisions.md). The source is read and the copy written under one
// index lock, so a concurrent delete of the source cannot close a deal the
// copy still needs.
func (c *Client) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, o CopyOptions) (*index.Entry, error) {
	now := c.Now().UTC()
	e, old, err := c.Index.Copy(ctx, srcBucket, srcKey, dstBucket, func(src index.Entry) index.Entry {
		src.Key, src.Created = dstKey, now
		if o.ReplaceMetadata {
			src.Metadata, src.ContentType = o.Metadata, o.ContentType
		}
		return src
	})
	if err != nil {
		return nil, err
	}
	c.released(ctx, partsOf(old))
	return e, nil
}

// CreateBucket creates a bucket with cfg.
func (c *Client) CreateBucket(ctx context.Context, bucket string, cfg index.BucketConfig) error {
	return c.Index.CreateBucket(ctx, bucket, cfg, c.Now())
}

// IsNotFound reports a missing bucket, object or upload.
func IsNotFound(err error) bool { return errors.Is(err, index.ErrNotFound) }

// multipartETag is S3's: MD5 of the concatenated binary part MD5s, "-N".
func multipartETag(parts []index.Part) (string, error) {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil {
			return "", fmt.Errorf("%w: part %d etag %q", index.ErrInvalid, p.Number, p.ETag)
		}
		h.Write(b)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts)), nil
}
