package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// One gateway per process (versitygw): TestMain starts it for every test.
var (
	gwAddr  string
	gwCreds Credentials
	gwKey   *wallet.Key
	gwHome  string
)

const testSegment = 64 << 10 // small segments: multi-segment objects stay small

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	gwHome, err = os.MkdirTemp("", "vimana-s3-test-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(gwHome)
	gwKey, _ = wallet.FromSeed(bytes.Repeat([]byte{5}, 32))
	cfg := objects.DefaultConfig()
	cfg.SegmentSize = testSegment
	c, err := objects.Open(gwHome, cfg, gwKey.Seed())
	if err != nil {
		panic(err)
	}
	gwCreds = DeriveCredentials(gwKey.Seed())
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{Listen: "127.0.0.1:0", Creds: gwCreds, Owner: gwKey.PubKey(),
			Backend: &Backend{C: c, Bucket: index.BucketConfig{Params: cfg.Params()}}, Ready: func(a string) { ready <- a }})
	}()
	select {
	case gwAddr = <-ready:
	case err := <-done:
		panic(fmt.Sprintf("gateway: %v", err))
	case <-time.After(30 * time.Second):
		panic("gateway did not start")
	}
	code := m.Run()
	cancel()
	<-done
	return code
}

func awsClient(t testing.TB, secret string) *s3.Client {
	t.Helper()
	return s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + gwAddr), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(gwCreds.AccessKey, secret, ""),
		// versitygw verifies the checksums it is sent; keep requests plain.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func minioClient(t testing.TB) *minio.Client {
	t.Helper()
	mc, err := minio.New(gwAddr, &minio.Options{Creds: miniocreds.NewStaticV4(gwCreds.AccessKey, gwCreds.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func blob(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func mkBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

func TestS3BucketsAndObjectsAWS(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	mkBucket(t, c, "aws-basic")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("aws-basic")}); apiCode(err) != "BucketAlreadyOwnedByYou" {
		t.Fatalf("duplicate bucket: %v", err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("aws-basic")}); err != nil {
		t.Fatal(err)
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || !slices.ContainsFunc(lb.Buckets, func(b types.Bucket) bool { return *b.Name == "aws-basic" }) {
		t.Fatalf("list buckets: %v", err)
	}
	for _, n := range []int{0, 100, 4096, 300_000} { // inline, inline, inline, 5 segments
		want := blob(n, 1)
		key := fmt.Sprintf("dir/obj-%d", n)
		put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String(key), Body: bytes.NewReader(want),
			ContentType: aws.String("application/x-test"), Metadata: map[string]string{"color": "blue"}})
		if err != nil {
			t.Fatalf("put %d: %v", n, err)
		}
		sum := md5.Sum(want)
		if strings.Trim(*put.ETag, `"`) != hex.EncodeToString(sum[:]) {
			t.Fatalf("etag %s", *put.ETag)
		}
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %d: %v", n, err)
		}
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if !bytes.Equal(b, want) || aws.ToString(got.ContentType) != "application/x-test" || got.Metadata["color"] != "blue" {
			t.Fatalf("get %d: %d bytes, type %q meta %v", n, len(b), aws.ToString(got.ContentType), got.Metadata)
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String(key)})
		if err != nil || aws.ToInt64(h.ContentLength) != int64(n) {
			t.Fatalf("head %d: %v", n, err)
		}
		if n < 10 {
			continue
		}
		for _, r := range []struct {
			hdr        string
			start, end int // inclusive
		}{{"bytes=0-0", 0, 0}, {"bytes=5-9", 5, 9}, {fmt.Sprintf("bytes=%d-", n-7), n - 7, n - 1}, {"bytes=-10", n - 10, n - 1},
			{fmt.Sprintf("bytes=%d-%d", testSegment-3, testSegment+5), testSegment - 3, testSegment + 5}} {
			if r.end >= n {
				continue
			}
			got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String(key), Range: aws.String(r.hdr)})
			if err != nil {
				t.Fatalf("range %s: %v", r.hdr, err)
			}
			b, _ := io.ReadAll(got.Body)
			got.Body.Close()
			if !bytes.Equal(b, want[r.start:r.end+1]) {
				t.Fatalf("range %s of %d: %d bytes, wrong", r.hdr, n, len(b))
			}
			if want := fmt.Sprintf("bytes %d-%d/%d", r.start, r.end, n); aws.ToString(got.ContentRange) != want {
				t.Fatalf("content-range %q want %q", aws.ToString(got.ContentRange), want)
			}
		}
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String("dir/obj-100"), Range: aws.String("bytes=500-600")}); apiCode(err) != "InvalidRange" {
		t.Fatalf("unsatisfiable range: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String("nope")}); apiCode(err) != "NoSuchKey" {
		t.Fatalf("missing key: %v", err)
	}
	var status interface{ HTTPStatusCode() int }
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String("nope")}); !errors.As(err, &status) || status.HTTPStatusCode() != http.StatusNotFound {
		t.Fatalf("head missing key: %v", err)
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String("dir/obj-300000"), Range: aws.String("bytes=10-19")})
	if err != nil || aws.ToInt64(h.ContentLength) != 10 || aws.ToString(h.ContentRange) != "bytes 10-19/300000" {
		t.Fatalf("ranged head: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("x")}); apiCode(err) != "NoSuchBucket" {
		t.Fatalf("missing bucket: %v", err)
	}
	// Copy (metadata-only) reads back the same bytes.
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String("copied"), CopySource: aws.String("aws-basic/dir/obj-300000")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String("copied")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	if !bytes.Equal(b, blob(300_000, 1)) {
		t.Fatal("copy differs")
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("aws-basic")}); apiCode(err) != "BucketNotEmpty" {
		t.Fatalf("delete non-empty bucket: %v", err)
	}
	for _, k := range []string{"dir/obj-0", "dir/obj-100", "dir/obj-4096", "dir/obj-300000", "copied", "never-there"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("aws-basic"), Key: aws.String(k)}); err != nil {
			t.Fatalf("delete %s: %v", k, err)
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("aws-basic")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("aws-basic")}); err == nil {
		t.Fatal("deleted bucket still there")
	}
}

func TestS3ListingAWS(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	mkBucket(t, c, "aws-list")
	keys := []string{"a", "a/1", "a/2", "a/b/c", "b", "b/1", "c/x/y", "d", "é"}
	for _, k := range slices.Backward(keys) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("aws-list"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	// v2, two per page, no delimiter: every key in order.
	var got []string
	var tok *string
	for {
		r, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("aws-list"), MaxKeys: aws.Int32(2), ContinuationToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range r.Contents {
			got = append(got, *o.Key)
		}
		if !aws.ToBool(r.IsTruncated) {
			break
		}
		tok = r.NextContinuationToken
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("v2 paged %v", got)
	}
	// v2 with delimiter.
	r, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("aws-list"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var objs, cps []string
	for _, o := range r.Contents {
		objs = append(objs, *o.Key)
	}
	for _, p := range r.CommonPrefixes {
		cps = append(cps, *p.Prefix)
	}
	if !slices.Equal(objs, []string{"a", "b", "d", "é"}) || !slices.Equal(cps, []string{"a/", "b/", "c/"}) {
		t.Fatalf("v2 delimited %v %v", objs, cps)
	}
	// v1, prefix + delimiter, one per page with markers.
	got = nil
	marker := ""
	for {
		r, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("aws-list"), Prefix: aws.String("a/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1), Marker: aws.String(marker)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range r.Contents {
			got = append(got, *o.Key)
		}
		for _, p := range r.CommonPrefixes {
			got = append(got, *p.Prefix)
		}
		if !aws.ToBool(r.IsTruncated) {
			break
		}
		marker = aws.ToString(r.NextMarker)
	}
	if !slices.Equal(got, []string{"a/1", "a/2", "a/b/"}) {
		t.Fatalf("v1 paged %v", got)
	}
}

func TestS3MultipartAWS(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	mkBucket(t, c, "aws-mp")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("aws-mp"), Key: aws.String("big"), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := blob(5<<20, 2), blob(200_000, 3)
	var done []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		r, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("aws-mp"), Key: aws.String("big"), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: r.ETag})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("aws-mp"), Key: aws.String("big"), UploadId: up.UploadId})
	if err != nil || len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[1].Size) != 200_000 {
		t.Fatalf("list parts: %v %+v", err, lp)
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("aws-mp")})
	if err != nil || len(lu.Uploads) != 1 {
		t.Fatalf("list uploads: %v", err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("aws-mp"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"00000000000000000000000000000000"`)}}}}); apiCode(err) != "InvalidPart" {
		t.Fatalf("wrong etag: %v", err)
	}
	cr, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("aws-mp"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.Trim(aws.ToString(cr.ETag), `"`), "-2") {
		t.Fatalf("multipart etag %s", aws.ToString(cr.ETag))
	}
	want := append(append([]byte{}, p1...), p2...)
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("aws-mp"), Key: aws.String("big"), Range: aws.String(fmt.Sprintf("bytes=%d-%d", len(p1)-10, len(p1)+10))})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	if !bytes.Equal(b, want[len(p1)-10:len(p1)+11]) {
		t.Fatal("range across parts differs")
	}
	// Abort drops an upload.
	up2, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("aws-mp"), Key: aws.String("gone")})
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("aws-mp"), Key: aws.String("gone"), UploadId: up2.UploadId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("aws-mp"), Key: aws.String("gone"), UploadId: up2.UploadId}); apiCode(err) != "NoSuchUpload" {
		t.Fatalf("aborted upload: %v", err)
	}
}

func TestS3AuthAndNotImplemented(t *testing.T) {
	ctx := context.Background()
	bad := awsClient(t, "wrong-secret-wrong-secret-wrong-secret-00")
	_, err := bad.ListBuckets(ctx, &s3.ListBucketsInput{})
	var re interface{ HTTPStatusCode() int }
	if apiCode(err) != "SignatureDoesNotMatch" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Fatalf("wrong secret: %v", err)
	}
	// No signature at all.
	resp, err := http.Get("http://" + gwAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous: %d", resp.StatusCode)
	}
	c := awsClient(t, gwCreds.SecretKey)
	mkBucket(t, c, "aws-unsupported")
	_, err = c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("aws-unsupported"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}})
	if apiCode(err) != "NotImplemented" {
		t.Fatalf("tagging: %v", err)
	}
}
