package s3

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/versity/versitygw/s3err"
	"github.com/versity/versitygw/s3response"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

func (b *Backend) uploadErr(ctx context.Context, bucket string, err error) error {
	return b.notFound(ctx, bucket, err, s3err.ErrNoSuchUpload)
}

// CreateMultipartUpload implements backend.Backend.
func (b *Backend) CreateMultipartUpload(ctx context.Context, in s3response.CreateMultipartUploadInput) (s3response.InitiateMultipartUploadResult, error) {
	bucket, key := strings.Clone(str(in.Bucket)), strings.Clone(str(in.Key))
	id, err := b.C.CreateUpload(ctx, bucket, key, objects.PutOptions{ContentType: strings.Clone(str(in.ContentType)), Metadata: cloneMap(in.Metadata)})
	if err != nil {
		return s3response.InitiateMultipartUploadResult{}, b.notFound(ctx, bucket, err, s3err.ErrNoSuchBucket)
	}
	return s3response.InitiateMultipartUploadResult{Bucket: bucket, Key: key, UploadId: id}, nil
}

// UploadPart implements backend.Backend.
func (b *Backend) UploadPart(ctx context.Context, in *s3.UploadPartInput) (*s3.UploadPartOutput, error) {
	bucket := strings.Clone(str(in.Bucket))
	n := 0
	if in.PartNumber != nil {
		n = int(*in.PartNumber)
	}
	p, err := b.C.UploadPart(ctx, bucket, strings.Clone(str(in.UploadId)), n, orEmpty(in.Body))
	if err != nil {
		return nil, b.uploadErr(ctx, bucket, err)
	}
	return &s3.UploadPartOutput{ETag: ptr(quote(p.ETag))}, nil
}

// CompleteMultipartUpload implements backend.Backend.
func (b *Backend) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput) (s3response.CompleteMultipartUploadResult, string, error) {
	bucket := strings.Clone(str(in.Bucket))
	var parts []objects.Completed
	if in.MultipartUpload != nil {
		for _, p := range in.MultipartUpload.Parts {
			if p.PartNumber == nil {
				return s3response.CompleteMultipartUploadResult{}, "", s3err.GetAPIError(s3err.ErrInvalidPart)
			}
			parts = append(parts, objects.Completed{Number: int(*p.PartNumber), ETag: str(p.ETag)})
		}
	}
	e, err := b.C.Complete(ctx, bucket, strings.Clone(str(in.UploadId)), parts)
	if err != nil {
		if errors.Is(err, objects.ErrInvalidPart) && strings.Contains(err.Error(), "ascending") {
			return s3response.CompleteMultipartUploadResult{}, "", s3err.GetAPIError(s3err.ErrInvalidPartOrder)
		}
		return s3response.CompleteMultipartUploadResult{}, "", b.uploadErr(ctx, bucket, err)
	}
	return s3response.CompleteMultipartUploadResult{Bucket: &bucket, Key: ptr(e.Key), ETag: ptr(quote(e.ETag))}, "", nil
}

// AbortMultipartUpload implements backend.Backend.
func (b *Backend) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput) error {
	bucket := str(in.Bucket)
	if err := b.C.Abort(ctx, bucket, str(in.UploadId)); err != nil {
		return b.uploadErr(ctx, bucket, err)
	}
	return nil
}

// ListParts implements backend.Backend: parts above part-number-marker,
// at most max-parts (default and cap 1000).
func (b *Backend) ListParts(ctx context.Context, in *s3.ListPartsInput) (s3response.ListPartsResult, error) {
	bucket := str(in.Bucket)
	u, err := b.C.Index.GetUpload(ctx, bucket, str(in.UploadId))
	if err != nil {
		return s3response.ListPartsResult{}, b.uploadErr(ctx, bucket, err)
	}
	marker := 0
	if m := str(in.PartNumberMarker); m != "" {
		if marker, err = strconv.Atoi(m); err != nil || marker < 0 {
			return s3response.ListPartsResult{}, s3err.GetAPIError(s3err.ErrInvalidRequest)
		}
	}
	limit := maxKeys(in.MaxParts)
	r := index.ListParts(u.Parts, marker, limit)
	out := s3response.ListPartsResult{Bucket: bucket, Key: u.Key, UploadID: u.ID, PartNumberMarker: marker, MaxParts: limit,
		IsTruncated: r.Truncated, NextPartNumberMarker: r.NextPartMarker, StorageClass: types.StorageClassStandard,
		Initiator: s3response.Initiator{ID: b.owner}, Owner: s3response.Owner{ID: b.owner}}
	for _, p := range r.Parts {
		out.Parts = append(out.Parts, s3response.Part{PartNumber: p.Number, LastModified: p.Modified, ETag: quote(p.ETag), Size: p.Size})
	}
	return out, nil
}

// ListMultipartUploads implements backend.Backend: S3's order (key, then
// initiation), prefix and delimiter, key-marker/upload-id-marker paging,
// max-uploads (default and cap 1000).
func (b *Backend) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput) (s3response.ListMultipartUploadsResult, error) {
	enc, err := encodingType(ctx)
	if err != nil {
		return s3response.ListMultipartUploadsResult{}, err
	}
	bucket := str(in.Bucket)
	o := index.UploadListOptions{Prefix: str(in.Prefix), Delimiter: str(in.Delimiter), KeyMarker: str(in.KeyMarker),
		UploadIDMarker: str(in.UploadIdMarker), MaxUploads: maxKeys(in.MaxUploads)}
	r, err := b.C.Index.ListUploads(ctx, bucket, o)
	if errors.Is(err, index.ErrNotFound) {
		return s3response.ListMultipartUploadsResult{}, s3err.GetAPIError(s3err.ErrNoSuchBucket)
	} else if err != nil {
		return s3response.ListMultipartUploadsResult{}, err
	}
	out := s3response.ListMultipartUploadsResult{Bucket: bucket, Prefix: o.Prefix, Delimiter: o.Delimiter, KeyMarker: o.KeyMarker,
		UploadIDMarker: o.UploadIDMarker, MaxUploads: o.MaxUploads, IsTruncated: r.Truncated,
		NextKeyMarker: r.NextKeyMarker, NextUploadIDMarker: r.NextUploadIDMarker}
	owner := s3response.Owner{ID: b.owner}
	for _, u := range r.Uploads {
		out.Uploads = append(out.Uploads, s3response.Upload{Key: u.Key, UploadID: u.ID, Initiated: u.Created,
			Initiator: s3response.Initiator{ID: b.owner}, Owner: owner, StorageClass: types.StorageClassStandard})
	}
	for _, p := range r.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, s3response.CommonPrefix{Prefix: p})
	}
	if enc {
		out.EncodingType = string(types.EncodingTypeUrl)
		encodeAll(&out.Prefix, &out.Delimiter, &out.KeyMarker, &out.NextKeyMarker)
		for i := range out.Uploads {
			encodeAll(&out.Uploads[i].Key)
		}
		for i := range out.CommonPrefixes {
			encodeAll(&out.CommonPrefixes[i].Prefix)
		}
	}
	return out, nil
}
