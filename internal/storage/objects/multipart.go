package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

// ErrInvalidPart is a Complete naming a part that was not uploaded, with
// another ETag, or out of order.
var ErrInvalidPart = errors.New("objects: invalid part")

// CreateUpload starts a multipart upload.
func (c *Client) CreateUpload(ctx context.Context, bucket, key string, o PutOptions) (string, error) {
	return c.Index.CreateUpload(ctx, bucket, index.Upload{Key: key, ContentType: o.ContentType, Metadata: o.Metadata, Created: c.Now().UTC()})
}

// UploadPart stores part number n (1–10000) of an upload.
func (c *Client) UploadPart(ctx context.Context, bucket, uploadID string, n int, r io.Reader) (*index.Part, error) {
	if n < 1 || n > 10000 {
		return nil, fmt.Errorf("%w: part number %d", index.ErrInvalid, n)
	}
	b, err := c.Index.Bucket(ctx, bucket)
	if err != nil {
		return nil, err
	}
	if _, err := c.Index.GetUpload(ctx, bucket, uploadID); err != nil {
		return nil, err
	}
	obj, sum, err := c.store(ctx, b.Config, r, nil)
	if err != nil {
		return nil, err
	}
	p := index.Part{Number: n, ETag: sum, Size: obj.Size, Modified: c.Now().UTC(), Object: *obj}
	old, err := c.Index.PutPart(ctx, bucket, uploadID, p)
	if err != nil {
		return nil, err
	}
	if old != nil { // a part uploaded again: the first one's deal is no one's
		c.released(ctx, []storage.Object{old.Object})
	}
	return &p, nil
}

// Completed names one part for Complete.
type Completed struct {
	Number int
	ETag   string
}

// Complete assembles the named parts (ascending numbers, matching ETags)
// into the object, atomically with dropping the upload.
func (c *Client) Complete(ctx context.Context, bucket, uploadID string, parts []Completed) (*index.Entry, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no parts", ErrInvalidPart)
	}
	var out index.Entry
	var dropped []storage.Object // uploaded parts the object does not use
	old, err := c.Index.CompleteUpload(ctx, bucket, uploadID, func(u *index.Upload) (index.Entry, error) {
		dropped = dropped[:0]
		for _, p := range u.Parts {
			if !slices.ContainsFunc(parts, func(cp Completed) bool { return cp.Number == p.Number }) {
				dropped = append(dropped, p.Object)
			}
		}
		have := map[int]index.Part{}
		for _, p := range u.Parts {
			have[p.Number] = p
		}
		var chosen []index.Part
		var objs []storage.Object
		var size int64
		for i, cp := range parts {
			if i > 0 && cp.Number <= parts[i-1].Number {
				return out, fmt.Errorf("%w: part %d after %d (want ascending)", ErrInvalidPart, cp.Number, parts[i-1].Number)
			}
			p, ok := have[cp.Number]
			if !ok || strings.Trim(cp.ETag, `"`) != p.ETag {
				return out, fmt.Errorf("%w: part %d etag %s", ErrInvalidPart, cp.Number, cp.ETag)
			}
			chosen = append(chosen, p)
			objs = append(objs, p.Object)
			size += p.Size
		}
		etag, err := multipartETag(chosen)
		if err != nil {
			return out, err
		}
		out = index.Entry{Key: u.Key, Size: size, ContentType: u.ContentType, ETag: etag, Metadata: u.Metadata,
			Created: c.Now().UTC(), Parts: objs}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	c.released(ctx, append(dropped, partsOf(old)...))
	return &out, nil
}

// Abort drops an upload and closes its parts' deals.
func (c *Client) Abort(ctx context.Context, bucket, uploadID string) error {
	u, err := c.Index.AbortUpload(ctx, bucket, uploadID)
	if err != nil {
		return err
	}
	var objs []storage.Object
	for _, p := range u.Parts {
		objs = append(objs, p.Object)
	}
	c.released(ctx, objs)
	return nil
}
