// Package s3 is the S3 gateway: versitygw (embedded as a library) serves
// the S3 protocol and SigV4 authentication, and Backend implements its
// backend.Backend over a storage/objects Client — buckets and keys from
// the encrypted index, data through the erasure-coded pipeline. Supported:
// buckets (create, list, head, delete), put/get/head/delete object with
// ranges, ListObjects v1 and v2 (prefix, delimiter, paging), multipart
// (create, upload part, complete, abort, list parts, list uploads), copy
// object and multi-object delete; everything else answers NotImplemented
// (backend.BackendUnsupported). Serve runs the gateway; the signed read
// grants of `vimana store share` are served on /_vimana/grant/<token>.
//
// s3 imports storage, storage/index, storage/objects and wallet only.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/s3err"
	"github.com/versity/versitygw/s3response"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

// Backend is versitygw's backend over an objects.Client.
type Backend struct {
	backend.BackendUnsupported
	C *objects.Client
	// Bucket is the config of buckets created through S3.
	Bucket index.BucketConfig
	// owner is the gateway's one account (its access key, as versitygw
	// names bucket owners): the owner of every object and upload listed.
	owner string
}

var _ backend.Backend = (*Backend)(nil)

// String implements backend.Backend.
func (b *Backend) String() string { return "vimana" }

// s3Error maps our few error classes to S3 errors.
func s3Error(err error) error {
	var api s3err.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &api):
		return err
	case errors.Is(err, objects.ErrInvalidPart):
		return s3err.GetAPIError(s3err.ErrInvalidPart)
	case errors.Is(err, index.ErrNotEmpty):
		return s3err.GetAPIError(s3err.ErrBucketNotEmpty)
	case errors.Is(err, index.ErrAlreadyExists):
		return s3err.GetAPIError(s3err.ErrBucketAlreadyOwnedByYou)
	case errors.Is(err, index.ErrInvalid):
		return s3err.GetAPIError(s3err.ErrInvalidRequest)
	case errors.Is(err, storage.ErrUnavailable):
		return s3err.GetAPIError(s3err.ErrSlowDown)
	}
	return err
}

// notFound maps a missing bucket to NoSuchBucket and a missing object or
// upload to what.
func (b *Backend) notFound(ctx context.Context, bucket string, err error, what s3err.ErrorCode) error {
	if !errors.Is(err, index.ErrNotFound) {
		return s3Error(err)
	}
	if _, berr := b.C.Index.Bucket(ctx, bucket); errors.Is(berr, index.ErrNotFound) {
		return s3err.GetAPIError(s3err.ErrNoSuchBucket)
	}
	return s3err.GetAPIError(what)
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func quote(etag string) string { return `"` + etag + `"` }

// ListBuckets implements backend.Backend.
func (b *Backend) ListBuckets(ctx context.Context, in s3response.ListBucketsInput) (s3response.ListAllMyBucketsResult, error) {
	bs, err := b.C.Index.Buckets(ctx)
	if err != nil {
		return s3response.ListAllMyBucketsResult{}, err
	}
	out := s3response.ListAllMyBucketsResult{Owner: s3response.CanonicalUser{ID: in.Owner}, Prefix: in.Prefix}
	for _, bk := range bs {
		if !strings.HasPrefix(bk.Name, in.Prefix) || (in.ContinuationToken != "" && bk.Name <= in.ContinuationToken) {
			continue
		}
		if in.MaxBuckets > 0 && len(out.Buckets.Bucket) == int(in.MaxBuckets) {
			out.ContinuationToken = out.Buckets.Bucket[len(out.Buckets.Bucket)-1].Name
			break
		}
		out.Buckets.Bucket = append(out.Buckets.Bucket, s3response.ListAllMyBucketsEntry{Name: bk.Name, CreationDate: bk.Created})
	}
	return out, nil
}

// ListBucketsAndOwners implements backend.Backend (admin API).
func (b *Backend) ListBucketsAndOwners(ctx context.Context) ([]s3response.Bucket, error) {
	bs, err := b.C.Index.Buckets(ctx)
	if err != nil {
		return nil, err
	}
	var out []s3response.Bucket
	for _, bk := range bs {
		out = append(out, s3response.Bucket{Name: bk.Name})
	}
	return out, nil
}

// HeadBucket implements backend.Backend.
func (b *Backend) HeadBucket(ctx context.Context, in *s3.HeadBucketInput) (*s3.HeadBucketOutput, error) {
	if _, err := b.C.Index.Bucket(ctx, str(in.Bucket)); err != nil {
		if errors.Is(err, index.ErrNotFound) {
			return nil, s3err.GetAPIError(s3err.ErrNoSuchBucket)
		}
		return nil, err
	}
	return &s3.HeadBucketOutput{}, nil
}

// GetBucketAcl implements backend.Backend: every request's ACL check
// asks for it; buckets have the default (owner-only) ACL.
func (b *Backend) GetBucketAcl(ctx context.Context, in *s3.GetBucketAclInput) ([]byte, error) {
	if _, err := b.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: in.Bucket}); err != nil {
		return nil, err
	}
	return nil, nil
}

// CreateBucket implements backend.Backend.
func (b *Backend) CreateBucket(ctx context.Context, in *s3.CreateBucketInput, _ []byte) error {
	name := strings.Clone(str(in.Bucket)) // versitygw reuses request buffers
	if !index.ValidBucketName(name) {
		return s3err.GetAPIError(s3err.ErrInvalidBucketName)
	}
	return s3Error(b.C.CreateBucket(ctx, name, b.Bucket))
}

// DeleteBucket implements backend.Backend.
func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	err := b.C.Index.DeleteBucket(ctx, bucket)
	if errors.Is(err, index.ErrNotFound) {
		return s3err.GetAPIError(s3err.ErrNoSuchBucket)
	}
	return s3Error(err)
}

// Answers versitygw needs to find "nothing configured" rather than
// NotImplemented (PutObject consults object lock, e.g.).

// GetObjectLockConfiguration implements backend.Backend.
func (b *Backend) GetObjectLockConfiguration(context.Context, string) ([]byte, error) {
	return nil, s3err.GetAPIError(s3err.ErrObjectLockConfigurationNotFound)
}

// GetBucketPolicy implements backend.Backend.
func (b *Backend) GetBucketPolicy(context.Context, string) ([]byte, error) {
	return nil, s3err.GetAPIError(s3err.ErrNoSuchBucketPolicy)
}

// GetBucketOwnershipControls implements backend.Backend.
func (b *Backend) GetBucketOwnershipControls(_ context.Context, bucket string) (types.ObjectOwnership, error) {
	return types.ObjectOwnershipBucketOwnerEnforced, nil
}

// GetBucketCors implements backend.Backend.
func (b *Backend) GetBucketCors(context.Context, string) ([]byte, error) {
	return nil, s3err.GetAPIError(s3err.ErrNoSuchCORSConfiguration)
}

// GetBucketVersioning implements backend.Backend: never enabled.
func (b *Backend) GetBucketVersioning(context.Context, string) (s3response.GetBucketVersioningOutput, error) {
	return s3response.GetBucketVersioningOutput{}, nil
}

// PutObject implements backend.Backend.
func (b *Backend) PutObject(ctx context.Context, in s3response.PutObjectInput) (s3response.PutObjectOutput, error) {
	bucket, key := strings.Clone(str(in.Bucket)), strings.Clone(str(in.Key))
	e, err := b.C.Put(ctx, bucket, key, orEmpty(in.Body), objects.PutOptions{ContentType: strings.Clone(str(in.ContentType)), Metadata: cloneMap(in.Metadata)})
	if err != nil {
		return s3response.PutObjectOutput{}, b.notFound(ctx, bucket, err, s3err.ErrNoSuchBucket)
	}
	return s3response.PutObjectOutput{ETag: quote(e.ETag), Size: &e.Size}, nil
}

// orEmpty guards against a request without a body reader (empty objects).
func orEmpty(r io.Reader) io.Reader {
	if r == nil {
		return strings.NewReader("")
	}
	return r
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.Clone(k)] = strings.Clone(v)
	}
	return out
}

func (b *Backend) entry(ctx context.Context, bucket, key string) (*index.Entry, error) {
	e, err := b.C.Stat(ctx, bucket, key)
	if err != nil {
		return nil, b.notFound(ctx, bucket, err, s3err.ErrNoSuchKey)
	}
	return e, nil
}

// HeadObject implements backend.Backend.
func (b *Backend) HeadObject(ctx context.Context, in *s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
	e, err := b.entry(ctx, str(in.Bucket), str(in.Key))
	if err != nil {
		return nil, err
	}
	off, n, isRange, err := backend.ParseObjectRange(e.Size, str(in.Range))
	if err != nil {
		return nil, err
	}
	out := &s3.HeadObjectOutput{
		ContentLength: ptr(n), ContentType: nonEmpty(e.ContentType), ETag: ptr(quote(e.ETag)),
		LastModified: ptr(e.Created), Metadata: e.Metadata, AcceptRanges: ptr("bytes"),
		StorageClass: types.StorageClassStandard,
	}
	if isRange {
		out.ContentRange = ptr(fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, e.Size))
	}
	return out, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// GetObject implements backend.Backend: the body streams from the
// pipeline as segments decode; only the segments of the range are fetched.
func (b *Backend) GetObject(ctx context.Context, in *s3.GetObjectInput) (*s3.GetObjectOutput, error) {
	e, err := b.entry(ctx, str(in.Bucket), str(in.Key))
	if err != nil {
		return nil, err
	}
	off, n, isRange, err := backend.ParseObjectRange(e.Size, str(in.Range))
	if err != nil {
		return nil, err
	}
	bucket := strings.Clone(str(in.Bucket)) // the body is read after the handler returns
	bd := &body{read: func(ctx context.Context, w io.Writer) error { return b.C.ReadRange(ctx, bucket, e, w, off, n, nil) }}
	out := &s3.GetObjectOutput{
		Body: bd, ContentLength: ptr(n), ContentType: nonEmpty(e.ContentType),
		ETag: ptr(quote(e.ETag)), LastModified: ptr(e.Created), Metadata: e.Metadata, AcceptRanges: ptr("bytes"),
		StorageClass: types.StorageClassStandard,
	}
	if isRange {
		out.ContentRange = ptr(fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, e.Size))
	}
	return out, nil
}

// body streams an object as versitygw sends it, after the handler has
// returned (so outside the request's context; Close stops it). fasthttp
// copies a body that is an io.WriterTo with WriteTo: the pipeline then
// writes decoded segments straight into the connection's writer. Read is
// the fallback, through a pipe fed by a goroutine.
type body struct {
	read   func(ctx context.Context, w io.Writer) error
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	pr     *io.PipeReader
	used   bool
}

func (b *body) init() {
	b.once.Do(func() { b.ctx, b.cancel = context.WithCancel(context.Background()) })
}

// WriteTo implements io.WriterTo.
func (b *body) WriteTo(w io.Writer) (int64, error) {
	b.init()
	if b.used {
		return 0, errors.New("s3: body read twice")
	}
	b.used = true
	cw := &counter{w: w}
	err := b.read(b.ctx, cw)
	return cw.n, err
}

func (b *body) Read(p []byte) (int, error) {
	b.init()
	if b.pr == nil {
		if b.used {
			return 0, errors.New("s3: body read twice")
		}
		b.used = true
		pr, pw := io.Pipe()
		b.pr = pr
		go func() { pw.CloseWithError(b.read(b.ctx, pw)) }()
	}
	return b.pr.Read(p)
}

func (b *body) Close() error {
	b.init()
	b.cancel()
	if b.pr != nil {
		return b.pr.Close()
	}
	return nil
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// DeleteObject implements backend.Backend. Deleting a missing key
// succeeds, as in S3.
func (b *Backend) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput) (*s3.DeleteObjectOutput, error) {
	bucket := str(in.Bucket)
	rel, err := b.C.Delete(ctx, bucket, str(in.Key))
	if err != nil {
		if err := b.notFound(ctx, bucket, err, s3err.ErrNoSuchKey); !isCode(err, "NoSuchKey") {
			return nil, err
		}
		return &s3.DeleteObjectOutput{}, nil
	}
	if rel.Err != nil { // the object is gone; its deal runs to its expiry
		slog.Warn("s3: storage deal left running", "bucket", bucket, "key", str(in.Key), "err", rel.Err)
	}
	return &s3.DeleteObjectOutput{}, nil
}

func isCode(err error, code string) bool {
	var api s3err.APIError
	return errors.As(err, &api) && api.Code == code
}

// DeleteObjects implements backend.Backend.
func (b *Backend) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput) (s3response.DeleteResult, error) {
	var res s3response.DeleteResult
	if in.Delete == nil {
		return res, nil
	}
	for _, o := range in.Delete.Objects {
		_, err := b.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: in.Bucket, Key: o.Key})
		if err != nil {
			res.Error = append(res.Error, types.Error{Key: o.Key, Code: ptr("InternalError"), Message: ptr(err.Error())})
			continue
		}
		res.Deleted = append(res.Deleted, types.DeletedObject{Key: o.Key})
	}
	return res, nil
}

// CopyObject implements backend.Backend (metadata-only: see objects.Copy).
func (b *Backend) CopyObject(ctx context.Context, in s3response.CopyObjectInput) (s3response.CopyObjectOutput, error) {
	srcBucket, srcKey, _, err := backend.ParseCopySource(str(in.CopySource))
	if err != nil {
		return s3response.CopyObjectOutput{}, err
	}
	dstBucket, dstKey := strings.Clone(str(in.Bucket)), strings.Clone(str(in.Key))
	o := objects.CopyOptions{}
	if in.MetadataDirective == types.MetadataDirectiveReplace {
		o = objects.CopyOptions{ReplaceMetadata: true, ContentType: strings.Clone(str(in.ContentType)), Metadata: cloneMap(in.Metadata)}
	}
	e, err := b.C.Copy(ctx, strings.Clone(srcBucket), strings.Clone(srcKey), dstBucket, dstKey, o)
	if err != nil {
		if errors.Is(err, index.ErrNotFound) {
			if _, berr := b.C.Index.Bucket(ctx, dstBucket); errors.Is(berr, index.ErrNotFound) {
				return s3response.CopyObjectOutput{}, s3err.GetAPIError(s3err.ErrNoSuchBucket)
			}
			return s3response.CopyObjectOutput{}, b.notFound(ctx, srcBucket, err, s3err.ErrNoSuchKey)
		}
		return s3response.CopyObjectOutput{}, s3Error(err)
	}
	return s3response.CopyObjectOutput{CopyObjectResult: &s3response.CopyObjectResult{ETag: ptr(quote(e.ETag)), LastModified: ptr(e.Created)}}, nil
}
