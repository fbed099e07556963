// Package index is a user's bucket index: for each bucket, its parameters
// and the sorted list of its objects (key, size, content type, ETag, user
// metadata, creation time and the storage.Object that locates the data),
// plus its pending multipart uploads. It is encrypted on the client: each
// bucket is one blob, sealed with XChaCha20-Poly1305 under a key derived
// from the owner's master key, and named by an HMAC of the bucket name, so
// whoever holds the blobs (a directory under --home; on the chain network
// also providers, see storage/chainnet.IndexStore) learns neither bucket
// names, keys nor sizes of objects.
// Decrypted, the objects are a sorted slice, so listing is lexicographic
// with S3's prefix, delimiter, marker and max-keys paging.
//
// Every change is read-modify-write of the whole bucket blob, written
// atomically by the Store (write-then-rename) with a version number in
// the sealed header: a crash leaves the old or the new blob, never a torn
// one. The cost is O(objects) per write; fine for the thousands of objects
// a bucket holds today (docs/storage.md).
//
// index imports storage (for storage.Object) and nothing else of vimana.
package index

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
	"golang.org/x/crypto/chacha20poly1305"
)

// Errors.
var (
	ErrNotFound      = errors.New("index: not found")
	ErrAlreadyExists = errors.New("index: already exists")
	ErrNotEmpty      = errors.New("index: bucket not empty")
	ErrInvalid       = errors.New("index: invalid")
	ErrCorrupt       = errors.New("index: blob does not decrypt (wrong key or damaged)")
	// ErrConflict is a Store's refusal of a write because another writer
	// (another machine of the same owner) stored a newer version of the
	// blob first; the Store has the newer version by the time it returns
	// this, so the Index reloads and applies the change again.
	ErrConflict = errors.New("index: a newer version was written elsewhere")
)

// conflictRetries bounds how often one change is re-applied after
// ErrConflict before the error is returned.
const conflictRetries = 5

// BucketConfig are a bucket's storage parameters, fixed at creation.
type BucketConfig struct {
	Params         storage.Params `json:"params"`
	AllowedRegions []string       `json:"allowed_regions,omitempty"` // pieces only in these regions (empty: any)
	DeniedRegions  []string       `json:"denied_regions,omitempty"`  // never in these
}

// Bucket is a bucket's description.
type Bucket struct {
	Name    string       `json:"name"`
	Config  BucketConfig `json:"config"`
	Created time.Time    `json:"created"`
	Objects int          `json:"objects"`
	Bytes   int64        `json:"bytes"`
}

// Entry is one object.
type Entry struct {
	Key         string            `json:"key"`
	Size        int64             `json:"size"`
	ContentType string            `json:"content_type,omitempty"`
	ETag        string            `json:"etag"` // hex MD5 of the data; multipart: MD5 of the parts' MD5s + "-N"
	Metadata    map[string]string `json:"metadata,omitempty"`
	Created     time.Time         `json:"created"`
	// Parts locate the data, in order: one for a simple put, one per part
	// of a multipart upload. Objects ≤ 4 KiB are inline in their part.
	Parts []storage.Object `json:"parts"`
}

// Upload is a pending multipart upload.
type Upload struct {
	ID          string            `json:"id"`
	Key         string            `json:"key"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Created     time.Time         `json:"created"`
	Parts       []Part            `json:"parts"` // sorted by number
}

// Part is one uploaded part.
type Part struct {
	Number   int            `json:"number"`
	ETag     string         `json:"etag"`
	Size     int64          `json:"size"`
	Modified time.Time      `json:"modified"`
	Object   storage.Object `json:"object"`
}

// doc is a decrypted bucket blob.
type doc struct {
	Name    string       `json:"name"`
	Config  BucketConfig `json:"config"`
	Created time.Time    `json:"created"`
	Objects []Entry      `json:"objects"` // sorted by key
	Uploads []Upload     `json:"uploads"` // sorted by key, then id
}

// Index is one owner's bucket index over a Store.
type Index struct {
	st      Store
	seal    func(ad, plain []byte) ([]byte, error)
	open    func(ad, sealed []byte) ([]byte, error)
	nameKey []byte
	mu      sync.Mutex // serializes read-modify-write in this process

	// cache holds the last decrypted document per blob with the sealed
	// bytes it came from: a read whose blob is byte-identical skips the
	// decryption and JSON decoding (the O(objects) part of a lookup).
	// Cached documents are shared and never mutated: update decodes its
	// own copy.
	cacheMu sync.Mutex
	cache   map[string]cached
}

type cached struct {
	raw []byte
	d   *doc
	v   uint64
}

// New returns the index kept in st, encrypted with keys derived from
// master (storage.MasterKey(seed, "index")).
func New(st Store, master []byte) (*Index, error) {
	if len(master) != storage.KeySize {
		return nil, fmt.Errorf("%w: master key must be %d bytes", ErrInvalid, storage.KeySize)
	}
	encKey := derive(master, "blob")
	aead, err := chacha20poly1305.NewX(encKey)
	if err != nil {
		return nil, err
	}
	ix := &Index{st: st, nameKey: derive(master, "name"), cache: map[string]cached{}}
	ix.seal = func(ad, plain []byte) ([]byte, error) {
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		return aead.Seal(nonce, nonce, plain, ad), nil
	}
	ix.open = func(ad, sealed []byte) ([]byte, error) {
		if len(sealed) < aead.NonceSize() {
			return nil, ErrCorrupt
		}
		p, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
		if err != nil {
			return nil, ErrCorrupt
		}
		return p, nil
	}
	return ix, nil
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("vimana/index/v1/" + purpose))
	return m.Sum(nil)
}

// blobName hides the bucket name: an HMAC under the owner's key.
func (ix *Index) blobName(bucket string) string {
	m := hmac.New(sha256.New, ix.nameKey)
	m.Write([]byte(bucket))
	return hex.EncodeToString(m.Sum(nil)[:20]) + ".bucket"
}

const headerSize = 8 // big-endian version

func blobAD(name string, version uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("vimana/index/v1/"+name+"/"), version)
}

// load reads and decrypts a bucket; version 0 with ErrNotFound if absent.
// shared allows the cached document (read-only callers).
func (ix *Index) load(ctx context.Context, name string, shared bool) (*doc, uint64, error) {
	b, err := ix.st.Read(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	useCache := shared
	if useCache {
		ix.cacheMu.Lock()
		c, ok := ix.cache[name]
		ix.cacheMu.Unlock()
		if ok && bytes.Equal(c.raw, b) {
			return c.d, c.v, nil
		}
	}
	if len(b) < headerSize {
		return nil, 0, ErrCorrupt
	}
	v := binary.BigEndian.Uint64(b)
	plain, err := ix.open(blobAD(name, v), b[headerSize:])
	if err != nil {
		return nil, 0, fmt.Errorf("bucket blob %s: %w", name, err)
	}
	d := new(doc)
	if err := json.Unmarshal(plain, d); err != nil {
		return nil, 0, fmt.Errorf("bucket blob %s: %w: %v", name, ErrCorrupt, err)
	}
	if useCache {
		ix.cacheMu.Lock()
		ix.cache[name] = cached{raw: b, d: d, v: v}
		ix.cacheMu.Unlock()
	}
	return d, v, nil
}

func (ix *Index) save(ctx context.Context, name string, d *doc, version uint64) error {
	plain, err := json.Marshal(d)
	if err != nil {
		return err
	}
	sealed, err := ix.seal(blobAD(name, version), plain)
	if err != nil {
		return err
	}
	return ix.st.Write(ctx, name, append(binary.BigEndian.AppendUint64(nil, version), sealed...))
}

// update runs fn on the bucket's document under the locks and writes the
// result with the next version unless fn fails.
func (ix *Index) update(ctx context.Context, bucket string, fn func(d *doc) error) error {
	unlock, err := ix.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return ix.updateLocked(ctx, bucket, fn)
}

// updateLocked is update for a caller that holds the locks. A write the
// Store refuses with ErrConflict is applied again to the newer version
// (fn runs on each freshly loaded document).
func (ix *Index) updateLocked(ctx context.Context, bucket string, fn func(d *doc) error) error {
	name := ix.blobName(bucket)
	for attempt := 0; ; attempt++ {
		d, v, err := ix.load(ctx, name, false)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("bucket %q: %w", bucket, ErrNotFound)
			}
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
		err = ix.save(ctx, name, d, v+1)
		if !errors.Is(err, ErrConflict) || attempt >= conflictRetries {
			return err
		}
	}
}

func (ix *Index) lock(ctx context.Context) (func(), error) {
	ix.mu.Lock()
	if l, ok := ix.st.(Locker); ok {
		unlock, err := l.Lock(ctx)
		if err != nil {
			ix.mu.Unlock()
			return nil, err
		}
		return func() { unlock(); ix.mu.Unlock() }, nil
	}
	return ix.mu.Unlock, nil
}

// view loads a bucket for reading: the result may be shared, never modify it.
func (ix *Index) view(ctx context.Context, bucket string) (*doc, error) {
	d, _, err := ix.load(ctx, ix.blobName(bucket), true)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("bucket %q: %w", bucket, ErrNotFound)
	}
	return d, err
}

// ValidBucketName reports whether name follows S3's bucket naming rules
// (3–63 of a-z 0-9 . -, starting and ending with a letter or digit).
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 || strings.Contains(name, "..") {
		return false
	}
	for i, c := range name {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '-' || c == '.') && i > 0 && i < len(name)-1:
		default:
			return false
		}
	}
	return true
}

// ValidKey reports whether key is a usable object key: 1–1024 bytes of
// valid UTF-8 (as S3).
func ValidKey(key string) bool {
	return len(key) > 0 && len(key) <= 1024 && strings.ToValidUTF8(key, "\uFFFD") == key
}

// CreateBucket creates an empty bucket.
func (ix *Index) CreateBucket(ctx context.Context, bucket string, cfg BucketConfig, now time.Time) error {
	if !ValidBucketName(bucket) {
		return fmt.Errorf("%w: bucket name %q: want 3-63 of a-z 0-9 . -", ErrInvalid, bucket)
	}
	if err := cfg.Params.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	unlock, err := ix.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	name := ix.blobName(bucket)
	for attempt := 0; ; attempt++ {
		if _, _, err := ix.load(ctx, name, false); err == nil {
			return fmt.Errorf("bucket %q: %w", bucket, ErrAlreadyExists)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		err := ix.save(ctx, name, &doc{Name: bucket, Config: cfg, Created: now.UTC()}, 1)
		if !errors.Is(err, ErrConflict) || attempt >= conflictRetries {
			return err
		}
	}
}

// DeleteBucket removes an empty bucket (no objects, no pending uploads).
func (ix *Index) DeleteBucket(ctx context.Context, bucket string) error {
	unlock, err := ix.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	name := ix.blobName(bucket)
	for attempt := 0; ; attempt++ {
		d, _, err := ix.load(ctx, name, false)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("bucket %q: %w", bucket, ErrNotFound)
		} else if err != nil {
			return err
		}
		if len(d.Objects) > 0 || len(d.Uploads) > 0 {
			return fmt.Errorf("bucket %q: %w", bucket, ErrNotEmpty)
		}
		err = ix.st.Remove(ctx, name)
		if !errors.Is(err, ErrConflict) || attempt >= conflictRetries {
			return err
		}
	}
}

// Bucket describes one bucket.
func (ix *Index) Bucket(ctx context.Context, bucket string) (Bucket, error) {
	d, err := ix.view(ctx, bucket)
	if err != nil {
		return Bucket{}, err
	}
	return d.describe(), nil
}

func (d *doc) describe() Bucket {
	b := Bucket{Name: d.Name, Config: d.Config, Created: d.Created, Objects: len(d.Objects)}
	for _, e := range d.Objects {
		b.Bytes += e.Size
	}
	return b
}

// Buckets lists every bucket, sorted by name. A blob that does not
// decrypt under this owner's key is skipped (another owner's index may
// share the store).
func (ix *Index) Buckets(ctx context.Context) ([]Bucket, error) {
	names, err := ix.st.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Bucket
	for _, n := range names {
		d, _, err := ix.load(ctx, n, true)
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ix.blobName(d.Name) != n { // a blob renamed under another bucket's name
			continue
		}
		out = append(out, d.describe())
	}
	slices.SortFunc(out, func(a, b Bucket) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (d *doc) find(key string) (int, bool) {
	return slices.BinarySearchFunc(d.Objects, key, func(e Entry, k string) int { return strings.Compare(e.Key, k) })
}

// Put adds or replaces an object and returns the entry it replaced (nil
// if none), whose pieces the caller may release.
func (ix *Index) Put(ctx context.Context, bucket string, e Entry) (*Entry, error) {
	if !ValidKey(e.Key) {
		return nil, fmt.Errorf("%w: object key %q", ErrInvalid, e.Key)
	}
	var old *Entry
	err := ix.update(ctx, bucket, func(d *doc) error {
		i, found := d.find(e.Key)
		d.Objects, old = upsert(d.Objects, i, found, e)
		return nil
	})
	return old, err
}

// upsert puts v at i of the sorted slice s: over the element there when
// found (returning a copy of what it replaced), else inserted.
func upsert[T any](s []T, i int, found bool, v T) ([]T, *T) {
	if found {
		prev := s[i]
		s[i] = v
		return s, &prev
	}
	return slices.Insert(s, i, v), nil
}

// Get returns one object's entry and its bucket's config.
func (ix *Index) Get(ctx context.Context, bucket, key string) (*Entry, error) {
	d, err := ix.view(ctx, bucket)
	if err != nil {
		return nil, err
	}
	i, found := d.find(key)
	if !found {
		return nil, fmt.Errorf("object %s/%s: %w", bucket, key, ErrNotFound)
	}
	e := d.Objects[i] // a copy: d may be shared
	return &e, nil
}

// Delete removes an object and returns its entry.
func (ix *Index) Delete(ctx context.Context, bucket, key string) (*Entry, error) {
	var old *Entry
	err := ix.update(ctx, bucket, func(d *doc) error {
		i, found := d.find(key)
		if !found {
			return fmt.Errorf("object %s/%s: %w", bucket, key, ErrNotFound)
		}
		prev := d.Objects[i]
		old = &prev
		d.Objects = slices.Delete(d.Objects, i, i+1)
		return nil
	})
	return old, err
}
