package index

import (
	"context"
	"encoding/binary"
	"encoding/json"
)

// Flusher is an optional Store ability: a store that copies blobs
// elsewhere (the network) after the local write and may hold some back
// for a while (debounce). Flush copies every blob still held back and
// returns when they are stored or failed.
type Flusher interface {
	Flush(ctx context.Context) error
}

// Flush flushes the Store when it is a Flusher (nothing to do otherwise).
func (ix *Index) Flush(ctx context.Context) error {
	if f, ok := ix.st.(Flusher); ok {
		return f.Flush(ctx)
	}
	return nil
}

// Store is the store the index keeps its blobs in.
func (ix *Index) Store() Store { return ix.st }

// BlobName is the name of bucket's blob in the Store (an HMAC of the
// bucket name under the owner's key).
func (ix *Index) BlobName(bucket string) string { return ix.blobName(bucket) }

// BlobVersion is the version in a sealed blob's header (false if the
// blob is too short to have one). It is authenticated only when the blob
// is opened; a Store uses it to order blobs, never to trust them.
func BlobVersion(blob []byte) (uint64, bool) {
	if len(blob) < headerSize {
		return 0, false
	}
	return binary.BigEndian.Uint64(blob), true
}

// Touch rewrites bucket's blob unchanged at the next version: a Store
// that keeps blobs on the network under expiring deals stores it afresh.
func (ix *Index) Touch(ctx context.Context, bucket string) error {
	return ix.update(ctx, bucket, func(*doc) error { return nil })
}

// Owns reports whether blob, stored under name, is one of this owner's
// bucket blobs: it opens under the owner's key with that name and
// version, and names a bucket whose blob name is name. Several owners
// may share a Store; a replicating Store copies only its owner's blobs.
func (ix *Index) Owns(name string, blob []byte) bool {
	v, ok := BlobVersion(blob)
	if !ok {
		return false
	}
	plain, err := ix.open(blobAD(name, v), blob[headerSize:])
	if err != nil {
		return false
	}
	var d struct {
		Name string `json:"name"`
	}
	return json.Unmarshal(plain, &d) == nil && ix.blobName(d.Name) == name
}
