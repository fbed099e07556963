package index

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

func (d *doc) upload(id string) (int, error) {
	i := slices.IndexFunc(d.Uploads, func(u Upload) bool { return u.ID == id })
	if i < 0 {
		return 0, fmt.Errorf("upload %s: %w", id, ErrNotFound)
	}
	return i, nil
}

// CreateUpload starts a multipart upload of key and returns its id.
func (ix *Index) CreateUpload(ctx context.Context, bucket string, u Upload) (string, error) {
	if !ValidKey(u.Key) {
		return "", fmt.Errorf("%w: object key %q", ErrInvalid, u.Key)
	}
	// The id is the initiation time then 8 random bytes: S3 lists a key's
	// uploads by initiation time and pages them by id (upload-id-marker),
	// and with this id both orders are one.
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(u.Created.UnixNano()))
	if _, err := rand.Read(b[8:]); err != nil {
		return "", err
	}
	u.ID, u.Parts = hex.EncodeToString(b[:]), nil
	err := ix.update(ctx, bucket, func(d *doc) error {
		i, _ := slices.BinarySearchFunc(d.Uploads, u, func(a, b Upload) int {
			if c := strings.Compare(a.Key, b.Key); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		d.Uploads = slices.Insert(d.Uploads, i, u)
		return nil
	})
	return u.ID, err
}

// PutPart records an uploaded part (replacing one with the same number)
// and returns the part it replaced, if any.
func (ix *Index) PutPart(ctx context.Context, bucket, uploadID string, p Part) (*Part, error) {
	var old *Part
	err := ix.update(ctx, bucket, func(d *doc) error {
		ui, err := d.upload(uploadID)
		if err != nil {
			return err
		}
		u := &d.Uploads[ui]
		i, found := slices.BinarySearchFunc(u.Parts, p.Number, func(a Part, n int) int { return a.Number - n })
		u.Parts, old = upsert(u.Parts, i, found, p)
		return nil
	})
	return old, err
}

// GetUpload returns a pending upload.
func (ix *Index) GetUpload(ctx context.Context, bucket, uploadID string) (*Upload, error) {
	d, err := ix.view(ctx, bucket)
	if err != nil {
		return nil, err
	}
	i, err := d.upload(uploadID)
	if err != nil {
		return nil, err
	}
	u := d.Uploads[i] // a copy: d may be shared
	return &u, nil
}

// Uploads lists pending uploads whose key has prefix, sorted by key then
// id (all of them: ListUploads pages).
func (ix *Index) Uploads(ctx context.Context, bucket, prefix string) ([]Upload, error) {
	d, err := ix.view(ctx, bucket)
	if err != nil {
		return nil, err
	}
	var out []Upload
	for _, u := range d.Uploads {
		if strings.HasPrefix(u.Key, prefix) {
			out = append(out, u)
		}
	}
	return out, nil
}

// CompleteUpload turns an upload into an object atomically: build gets
// the upload and returns the entry to store (or an error to leave the
// upload as it is). It returns the entry it replaced, if any.
func (ix *Index) CompleteUpload(ctx context.Context, bucket, uploadID string, build func(u *Upload) (Entry, error)) (*Entry, error) {
	var old *Entry
	err := ix.update(ctx, bucket, func(d *doc) error {
		ui, err := d.upload(uploadID)
		if err != nil {
			return err
		}
		e, err := build(&d.Uploads[ui])
		if err != nil {
			return err
		}
		d.Uploads = slices.Delete(d.Uploads, ui, ui+1)
		i, found := d.find(e.Key)
		if found {
			prev := d.Objects[i]
			old = &prev
			d.Objects[i] = e
			return nil
		}
		d.Objects = slices.Insert(d.Objects, i, e)
		return nil
	})
	return old, err
}

// AbortUpload drops a pending upload and returns it.
func (ix *Index) AbortUpload(ctx context.Context, bucket, uploadID string) (*Upload, error) {
	var gone *Upload
	err := ix.update(ctx, bucket, func(d *doc) error {
		ui, err := d.upload(uploadID)
		if err != nil {
			return err
		}
		u := d.Uploads[ui]
		gone = &u
		d.Uploads = slices.Delete(d.Uploads, ui, ui+1)
		return nil
	})
	return gone, err
}
