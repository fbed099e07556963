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
	return OpenKeys(home, cfg, seed, seed)
}

// OpenKeys is Open with the storage keys derived from secret (e.g.
// storage.PassphraseSecret) while the network still signs with the wallet
// seed.
func OpenKeys(home string, cfg Config, seed, secret []byte) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	master, err := storage.MasterKey(secret, "objects")
	if err != nil {
		return nil, err
	}
	ixKey, err := storage.MasterKey(secret, "index")
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
