package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func TestS3MinioAndGrant(t *testing.T) {
	ctx := context.Background()
	mc := minioClient(t)
	if err := mc.MakeBucket(ctx, "minio-b", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	want := blob(11<<20+123, 4) // minio-go uploads this in 3 parts
	if _, err := mc.PutObject(ctx, "minio-b", "x/big.bin", bytes.NewReader(want), int64(len(want)), minio.PutObjectOptions{PartSize: 5 << 20, ContentType: "application/octet-stream"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "minio-b", "x/small.txt", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := mc.StatObject(ctx, "minio-b", "x/big.bin", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(want)) || !strings.HasSuffix(st.ETag, "-3") {
		t.Fatalf("stat: %v %+v", err, st)
	}
	o, err := mc.GetObject(ctx, "minio-b", "x/big.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("get: %v (%d bytes)", err, len(b))
	}
	opts := minio.GetObjectOptions{}
	opts.SetRange(5<<20-1, 5<<20+1)
	o, _ = mc.GetObject(ctx, "minio-b", "x/big.bin", opts)
	b, err = io.ReadAll(o)
	if err != nil || !bytes.Equal(b, want[5<<20-1:5<<20+2]) {
		t.Fatalf("range: %v %d", err, len(b))
	}
	var keys []string
	for oi := range mc.ListObjects(ctx, "minio-b", minio.ListObjectsOptions{Prefix: "x/", Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	if !slices.Equal(keys, []string{"x/big.bin", "x/small.txt"}) {
		t.Fatalf("list %v", keys)
	}
	if _, err := mc.CopyObject(ctx, minio.CopyDestOptions{Bucket: "minio-b", Object: "y/copy.txt"}, minio.CopySrcOptions{Bucket: "minio-b", Object: "x/small.txt"}); err != nil {
		t.Fatal(err)
	}
	// A signed read grant works without SigV4 until it expires.
	tok, _ := objects.SignGrant(gwKey, "minio-b", "y/copy.txt", time.Now().Add(time.Minute))
	resp, err := http.Get("http://" + gwAddr + GrantPath + tok)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello" {
		t.Fatalf("grant: %d %q", resp.StatusCode, b)
	}
	old, _ := objects.SignGrant(gwKey, "minio-b", "y/copy.txt", time.Now().Add(-time.Second))
	other, _ := wallet.FromSeed(bytes.Repeat([]byte{6}, 32))
	forged, _ := objects.SignGrant(other, "minio-b", "y/copy.txt", time.Now().Add(time.Minute))
	for _, tk := range []string{old, forged, "garbage"} {
		resp, err := http.Get("http://" + gwAddr + GrantPath + tk)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("bad grant answered %d", resp.StatusCode)
		}
	}
	if err := mc.RemoveObject(ctx, "minio-b", "x/small.txt", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.StatObject(ctx, "minio-b", "x/small.txt", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("removed: %v", err)
	}
}

func FuzzS3ContinuationToken(f *testing.F) {
	for _, s := range []string{"", "v1.", EncodeToken("a/b"), EncodeToken("é"), "v1.!!", "v2.YQ", "v1." + strings.Repeat("A", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		m, err := DecodeToken(tok)
		if err != nil {
			return
		}
		if !index.ValidKey(m) || EncodeToken(m) != tok {
			t.Fatalf("token %q decoded to %q which does not round trip", tok, m)
		}
	})
}

// A SigV4 presigned GET (query-string auth) works, and one with a
// tampered signature is refused.
func TestS3PresignedGet(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	mkBucket(t, c, "aws-presign")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("aws-presign"), Key: aws.String("p.txt"), Body: strings.NewReader("presigned")}); err != nil {
		t.Fatal(err)
	}
	req, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("aws-presign"), Key: aws.String("p.txt")},
		s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned" {
		t.Fatalf("presigned: %d %q", resp.StatusCode, b)
	}
	i := strings.Index(req.URL, "X-Amz-Signature=") + len("X-Amz-Signature=")
	bad := req.URL[:i] + strings.Repeat("0", 64) + req.URL[i+64:]
	resp, err = http.Get(bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered presign: %d", resp.StatusCode)
	}
}

// Keys with spaces, '+', '%', '?', '&', ';' and non-ASCII list and read
// back unchanged through both clients (minio-go asks for URL-encoded listings).
func TestS3OddKeys(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	mkBucket(t, c, "odd-keys")
	keys := []string{"a b/c+d", "q?x=1&y", "semi;colon", "é ü/%41"} // byte order
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("odd-keys"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(k, err)
		}
	}
	r, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("odd-keys")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range r.Contents {
		got = append(got, *o.Key)
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("aws v2: %q", got)
	}
	mc := minioClient(t)
	for _, v1 := range []bool{false, true} {
		got = nil
		for oi := range mc.ListObjects(ctx, "odd-keys", minio.ListObjectsOptions{Recursive: true, UseV1: v1}) {
			if oi.Err != nil {
				t.Fatal(oi.Err)
			}
			got = append(got, oi.Key)
		}
		if !slices.Equal(got, keys) {
			t.Fatalf("minio (v1 %v): %q", v1, got)
		}
	}
	for _, k := range keys {
		o, err := mc.GetObject(ctx, "odd-keys", k, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(o); err != nil || string(b) != k {
			t.Fatalf("get %q: %q %v", k, b, err)
		}
	}
}

// Parallel puts into one bucket all land in the index (one writer at a
// time per index, pipelines in parallel).
func TestS3ParallelPuts(t *testing.T) {
	ctx := context.Background()
	c := awsClient(t, gwCreds.SecretKey)
	mkBucket(t, c, "aws-parallel")
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("aws-parallel"), Key: aws.String(fmt.Sprintf("k%d", i)), Body: bytes.NewReader(blob(100_000, uint64(i)))})
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("aws-parallel")})
	if err != nil || aws.ToInt32(r.KeyCount) != 8 {
		t.Fatalf("after parallel puts: %v %d keys", err, aws.ToInt32(r.KeyCount))
	}
}
