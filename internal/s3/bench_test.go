package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

// BenchmarkS3Throughput compares, on the test gateway's stores (6
// DirStores, 4+2; this package's tests use 64 KiB segments), the direct
// pipeline with the gateway for 32 MiB objects, and 4 KiB time to first
// byte. bench/store runs the same comparison at 256 MiB with production
// segment sizes; docs/benchmarks.md has the figures.
//
//	go test -run XXX -bench S3 -benchtime 5x ./internal/s3/
func BenchmarkS3Throughput(b *testing.B) {
	ctx := context.Background()
	cfg := objects.DefaultConfig()
	c, err := objects.Open(gwHome, cfg, gwKey.Seed())
	if err != nil {
		b.Fatal(err)
	}
	bcfg := index.BucketConfig{Params: cfg.Params()} // 64 MiB segments, as in production
	sc := s3.New(s3.Options{BaseEndpoint: aws.String("http://" + gwAddr), Region: "us-east-1", UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(gwCreds.AccessKey, gwCreds.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired},
		s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	// Created through the client so it has production segments (the
	// gateway's buckets here use the tests' 64 KiB).
	c.CreateBucket(ctx, "bench-s3", bcfg)
	const size = 32 << 20
	data := blob(size, 7)
	stores, _ := c.Net.Place(ctx, bcfg)
	byName, _ := c.Net.Resolve(ctx, nil)
	master, _ := storage.MasterKey(gwKey.Seed(), "objects")
	var obj *storage.Object

	b.Run("direct-put", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if obj, err = storage.Put(ctx, bytes.NewReader(data), stores, master, bcfg.Params, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct-get", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := storage.Get(ctx, obj, byName, master, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("s3-put", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench-s3"), Key: aws.String("big"), Body: bytes.NewReader(data)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("s3-get", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench-s3"), Key: aws.String("big")})
			if err != nil {
				b.Fatal(err)
			}
			if n, _ := io.CopyBuffer(struct{ io.Writer }{io.Discard}, out.Body, make([]byte, 1<<20)); n != size {
				b.Fatalf("%d bytes", n)
			}
			out.Body.Close()
		}
	})
	if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench-s3"), Key: aws.String("small"), Body: bytes.NewReader(data[:4096])}); err != nil {
		b.Fatal(err)
	}
	b.Run("s3-ttfb-4KiB", func(b *testing.B) {
		for b.Loop() {
			out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench-s3"), Key: aws.String("small")})
			if err != nil {
				b.Fatal(err)
			}
			var one [1]byte
			if _, err := io.ReadFull(out.Body, one[:]); err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
	})
	b.Run("client-ttfb-4KiB", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Get(ctx, "bench-s3", "small", io.Discard, nil); err != nil {
				b.Fatal(fmt.Errorf("client get: %w", err))
			}
		}
	})
}
