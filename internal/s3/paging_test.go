package s3

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

// Pending uploads page as S3 does through both SDKs' paginators: every
// upload exactly once, by key then initiation, with prefixes and
// delimiters; parts page by part-number-marker.
func TestS3MultipartPaging(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	const bucket = "mpu-paging"
	mkBucket(t, c, bucket)
	// 7 uploads across prefixes, "a/x" twice: S3 orders a key's uploads
	// by initiation.
	keys := []string{"b/2", "a/x", "c", "a/x", "b/1", "a/y", "d/e/f"}
	ids := map[string][]string{}
	for _, k := range keys {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = append(ids[k], *up.UploadId)
	}
	var want []string // key#id in S3's order
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	for _, k := range slices.Compact(sorted) {
		for _, id := range ids[k] {
			want = append(want, k+"#"+id)
		}
	}

	list := func(in *s3.ListMultipartUploadsInput) (got, prefixes []string, pages int) {
		t.Helper()
		p := s3.NewListMultipartUploadsPaginator(c, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if n := len(out.Uploads) + len(out.CommonPrefixes); n > int(aws.ToInt32(in.MaxUploads)) {
				t.Fatalf("page of %d with max-uploads %d", n, aws.ToInt32(in.MaxUploads))
			}
			for _, u := range out.Uploads {
				got = append(got, *u.Key+"#"+*u.UploadId)
			}
			for _, cp := range out.CommonPrefixes {
				prefixes = append(prefixes, *cp.Prefix)
			}
		}
		return got, prefixes, pages
	}
	got, _, pages := list(&s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), MaxUploads: aws.Int32(2)})
	if !slices.Equal(got, want) || pages != 4 {
		t.Fatalf("aws paging by 2 (%d pages):\n got %q\nwant %q", pages, got, want)
	}
	got, _, _ = list(&s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String("a/"), MaxUploads: aws.Int32(1)})
	if !slices.Equal(got, want[:3]) {
		t.Fatalf("prefix a/ by 1: %q", got)
	}
	got, cps, pages := list(&s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Delimiter: aws.String("/"), MaxUploads: aws.Int32(2)})
	if !slices.Equal(got, []string{"c#" + ids["c"][0]}) || !slices.Equal(cps, []string{"a/", "b/", "d/"}) || pages != 2 {
		t.Fatalf("delimiter / by 2 (%d pages): %q %q", pages, got, cps)
	}
	// Resuming inside a key: after the first "a/x" upload comes the second.
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), KeyMarker: aws.String("a/x"),
		UploadIdMarker: aws.String(ids["a/x"][0]), MaxUploads: aws.Int32(1)})
	if err != nil || len(out.Uploads) != 1 || *out.Uploads[0].UploadId != ids["a/x"][1] || !aws.ToBool(out.IsTruncated) ||
		aws.ToString(out.NextKeyMarker) != "a/x" || aws.ToString(out.NextUploadIdMarker) != ids["a/x"][1] {
		t.Fatalf("upload-id-marker: %v %+v", err, out)
	}
	// A key-marker alone skips every upload of that key.
	out, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), KeyMarker: aws.String("a/x")})
	if err != nil || len(out.Uploads) != 5 || *out.Uploads[0].Key != "a/y" || aws.ToBool(out.IsTruncated) {
		t.Fatalf("key-marker: %v %+v", err, out)
	}

	// minio-go lists incomplete uploads with its own paging loop.
	mc := minioClient(t)
	got = nil
	for u := range mc.ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		got = append(got, u.Key+"#"+u.UploadID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("minio:\n got %q\nwant %q", got, want)
	}
	got = nil
	for u := range mc.ListIncompleteUploads(ctx, bucket, "b/", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		got = append(got, u.Key)
	}
	if !slices.Equal(got, []string{"b/1", "b/2"}) {
		t.Fatalf("minio prefix b/: %q", got)
	}

	// Parts: 5 of them (numbers 1..4 and 7), two per page.
	up := ids["c"][0]
	for _, n := range []int32{7, 1, 2, 3, 4} {
		if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("c"), UploadId: aws.String(up),
			PartNumber: aws.Int32(n), Body: strings.NewReader(strings.Repeat("p", int(n)))}); err != nil {
			t.Fatal(err)
		}
	}
	var nums []int32
	pages = 0
	pp := s3.NewListPartsPaginator(c, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String("c"), UploadId: aws.String(up), MaxParts: aws.Int32(2)})
	for pp.HasMorePages() {
		out, err := pp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Parts) > 2 {
			t.Fatalf("page of %d parts", len(out.Parts))
		}
		for _, p := range out.Parts {
			nums = append(nums, *p.PartNumber)
			if *p.Size != int64(*p.PartNumber) {
				t.Fatalf("part %d size %d", *p.PartNumber, *p.Size)
			}
		}
	}
	if !slices.Equal(nums, []int32{1, 2, 3, 4, 7}) || pages != 3 {
		t.Fatalf("parts by 2 (%d pages): %v", pages, nums)
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String("c"), UploadId: aws.String(up),
		PartNumberMarker: aws.String("3"), MaxParts: aws.Int32(1)})
	if err != nil || len(lp.Parts) != 1 || *lp.Parts[0].PartNumber != 4 || !aws.ToBool(lp.IsTruncated) || aws.ToString(lp.NextPartNumberMarker) != "4" {
		t.Fatalf("part-number-marker 3: %v %+v", err, lp)
	}
	// minio-go without recursion delimits by "/".
	got = nil
	for u := range mc.ListIncompleteUploads(ctx, bucket, "", false) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		got = append(got, u.Key)
	}
	slices.Sort(got) // minio sends a page's uploads, then its prefixes
	if !slices.Equal(got, []string{"a/", "b/", "c", "d/"}) {
		t.Fatalf("minio delimited: %q", got)
	}
}

// start-after and fetch-owner are honoured by ListObjectsV2; v1 always
// names the owner.
func TestS3ListObjectsParams(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	const bucket = "list-params"
	mkBucket(t, c, bucket)
	for _, k := range []string{"a", "b", "c/d", "e"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), StartAfter: aws.String("a"), MaxKeys: aws.Int32(1), FetchOwner: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			if o.Owner == nil || aws.ToString(o.Owner.ID) != gwCreds.AccessKey {
				t.Fatalf("fetch-owner: %+v", o.Owner)
			}
			got = append(got, *o.Key)
		}
	}
	if !slices.Equal(got, []string{"b", "c/d", "e"}) {
		t.Fatalf("start-after a: %q", got)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil || len(out.Contents) != 4 || out.Contents[0].Owner != nil {
		t.Fatalf("without fetch-owner: %v %+v", err, out.Contents)
	}
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket), Marker: aws.String("b"), Delimiter: aws.String("/")})
	if err != nil || len(v1.Contents) != 1 || *v1.Contents[0].Key != "e" || v1.Contents[0].Owner == nil ||
		len(v1.CommonPrefixes) != 1 || *v1.CommonPrefixes[0].Prefix != "c/" {
		t.Fatalf("v1: %v %+v", err, v1)
	}
	// minio-go asks for encoding-type=url; the answer names no encoding,
	// so it takes the keys as they are.
	mc := minioClient(t)
	got = nil
	for oi := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, StartAfter: "b"}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		got = append(got, oi.Key)
	}
	if !slices.Equal(got, []string{"c/d", "e"}) {
		t.Fatalf("minio start-after b: %q", got)
	}
}

// encoding-type=url encodes keys, prefixes and markers (a control
// character survives the XML); other encodings are refused.
func TestS3ListEncodingType(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	const bucket = "list-encoding"
	mkBucket(t, c, bucket)
	keys := []string{"a b/c+d", "ctl\x01x", "é/%41"} // byte order
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(k, err)
		}
		if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			t.Fatal(k, err)
		}
	}
	decode := func(s *string) string {
		t.Helper()
		d, err := url.QueryUnescape(aws.ToString(s))
		if err != nil {
			t.Fatalf("%q: %v", aws.ToString(s), err)
		}
		return d
	}
	v2, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), EncodingType: types.EncodingTypeUrl})
	if err != nil || v2.EncodingType != types.EncodingTypeUrl || len(v2.Contents) != 3 || *v2.Contents[0].Key != "a+b/c%2Bd" {
		t.Fatalf("v2: %v %+v", err, v2)
	}
	for i, o := range v2.Contents {
		if decode(o.Key) != keys[i] {
			t.Fatalf("v2 key %d: %q", i, *o.Key)
		}
	}
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket), EncodingType: types.EncodingTypeUrl,
		Prefix: aws.String("é"), Delimiter: aws.String("/")})
	if err != nil || v1.EncodingType != types.EncodingTypeUrl || len(v1.CommonPrefixes) != 1 ||
		decode(v1.CommonPrefixes[0].Prefix) != "é/" || decode(v1.Prefix) != "é" {
		t.Fatalf("v1: %v %+v", err, v1)
	}
	mu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), EncodingType: types.EncodingTypeUrl})
	if err != nil || mu.EncodingType != types.EncodingTypeUrl || len(mu.Uploads) != 3 || decode(mu.Uploads[1].Key) != keys[1] {
		t.Fatalf("uploads: %v %+v", err, mu)
	}
	// Without encoding the control character cannot cross XML 1.0.
	plain, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil || plain.EncodingType != "" || *plain.Contents[0].Key != keys[0] {
		t.Fatalf("plain: %v %+v", err, plain)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), EncodingType: "base64"}); apiCode(err) != "InvalidArgument" {
		t.Fatalf("encoding-type base64: %v", err)
	}
}
