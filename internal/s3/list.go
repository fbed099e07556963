package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/versity/versitygw/s3err"
	"github.com/versity/versitygw/s3response"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

const defaultMaxKeys = 1000

func maxKeys(p *int32) int {
	if p == nil || *p < 0 {
		return defaultMaxKeys
	}
	return int(min(*p, defaultMaxKeys))
}

func (b *Backend) list(ctx context.Context, bucket string, o index.ListOptions) (index.ListResult, error) {
	r, err := b.C.Index.List(ctx, bucket, o)
	if errors.Is(err, index.ErrNotFound) {
		return r, s3err.GetAPIError(s3err.ErrNoSuchBucket)
	}
	return r, err
}

// contents lists entries; owner, if set, is each object's Owner (v1
// always has it, v2 with fetch-owner=true).
func contents(es []index.Entry, owner *types.Owner) []s3response.Object {
	out := make([]s3response.Object, 0, len(es))
	for _, e := range es {
		out = append(out, s3response.Object{Key: ptr(e.Key), Size: ptr(e.Size), ETag: ptr(quote(e.ETag)),
			LastModified: ptr(e.Created), StorageClass: types.ObjectStorageClassStandard, Owner: owner})
	}
	return out
}

func (b *Backend) ownerOf() *types.Owner {
	if b.owner == "" {
		return nil
	}
	return &types.Owner{ID: ptr(b.owner)}
}

func prefixes(ps []string) []types.CommonPrefix {
	out := make([]types.CommonPrefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, types.CommonPrefix{Prefix: ptr(p)})
	}
	return out
}

// ListObjects implements backend.Backend (v1: marker paging).
func (b *Backend) ListObjects(ctx context.Context, in *s3.ListObjectsInput) (s3response.ListObjectsResult, error) {
	enc, err := encodingType(ctx)
	if err != nil {
		return s3response.ListObjectsResult{}, err
	}
	o := index.ListOptions{Prefix: str(in.Prefix), Delimiter: str(in.Delimiter), Marker: str(in.Marker), MaxKeys: maxKeys(in.MaxKeys)}
	r, err := b.list(ctx, str(in.Bucket), o)
	if err != nil {
		return s3response.ListObjectsResult{}, err
	}
	out := s3response.ListObjectsResult{
		Name: in.Bucket, Prefix: ptr(o.Prefix), Marker: ptr(o.Marker), MaxKeys: ptr(int32(o.MaxKeys)), Delimiter: ptr(o.Delimiter),
		IsTruncated: ptr(r.Truncated), Contents: contents(r.Objects, b.ownerOf()), CommonPrefixes: prefixes(r.CommonPrefixes),
	}
	if r.Truncated {
		out.NextMarker = ptr(r.NextMarker)
	}
	if enc {
		out.EncodingType = types.EncodingTypeUrl
		encodeAll(out.Prefix, out.Marker, out.Delimiter, out.NextMarker)
		encodeListed(out.Contents, out.CommonPrefixes)
	}
	return out, nil
}

// encodeListed url-encodes listed keys and common prefixes in place.
func encodeListed(objs []s3response.Object, cps []types.CommonPrefix) {
	for _, o := range objs {
		encodeAll(o.Key)
	}
	for _, cp := range cps {
		encodeAll(cp.Prefix)
	}
}

// ListObjectsV2 implements backend.Backend: the continuation token is
// the base64url of the last key or common prefix returned.
func (b *Backend) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input) (s3response.ListObjectsV2Result, error) {
	enc, err := encodingType(ctx)
	if err != nil {
		return s3response.ListObjectsV2Result{}, err
	}
	o := index.ListOptions{Prefix: str(in.Prefix), Delimiter: str(in.Delimiter), Marker: str(in.StartAfter), MaxKeys: maxKeys(in.MaxKeys)}
	if tok := str(in.ContinuationToken); tok != "" {
		m, err := DecodeToken(tok)
		if err != nil {
			return s3response.ListObjectsV2Result{}, s3err.GetAPIError(s3err.ErrInvalidRequest)
		}
		o.Marker = max(m, o.Marker)
	}
	r, err := b.list(ctx, str(in.Bucket), o)
	if err != nil {
		return s3response.ListObjectsV2Result{}, err
	}
	var owner *types.Owner
	if in.FetchOwner != nil && *in.FetchOwner {
		owner = b.ownerOf()
	}
	out := s3response.ListObjectsV2Result{
		Name: in.Bucket, Prefix: ptr(o.Prefix), StartAfter: ptr(str(in.StartAfter)), ContinuationToken: in.ContinuationToken,
		KeyCount: ptr(int32(len(r.Objects) + len(r.CommonPrefixes))), MaxKeys: ptr(int32(o.MaxKeys)), Delimiter: ptr(o.Delimiter),
		IsTruncated: ptr(r.Truncated), Contents: contents(r.Objects, owner), CommonPrefixes: prefixes(r.CommonPrefixes),
	}
	if r.Truncated {
		out.NextContinuationToken = ptr(EncodeToken(r.NextMarker))
	}
	if enc {
		out.EncodingType = types.EncodingTypeUrl
		encodeAll(out.Prefix, out.StartAfter, out.Delimiter)
		encodeListed(out.Contents, out.CommonPrefixes)
	}
	return out, nil
}

const tokenPrefix = "v1."

// EncodeToken makes a ListObjectsV2 continuation token from a marker.
func EncodeToken(marker string) string {
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(marker))
}

// DecodeToken parses a continuation token from a client (untrusted).
func DecodeToken(tok string) (string, error) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || len(rest) > 2048 {
		return "", index.ErrInvalid
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	// Canonical only: the decoder skips \r and \n, so re-encode and compare.
	if err != nil || !index.ValidKey(string(b)) || EncodeToken(string(b)) != tok {
		return "", index.ErrInvalid
	}
	return string(b), nil
}
