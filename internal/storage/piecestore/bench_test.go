package piecestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
)

// BenchmarkPutGetHTTP puts and gets one object through the storage
// pipeline (64 MiB segments, AES-GCM, 4+2) over six piece stores served
// over HTTP on loopback sockets, with fsync'ed writes to disk.
// VIMANA_BENCH_MIB sets the object size (default 256).
//
//	go test -run XXX -bench PutGetHTTP -benchtime 1x ./internal/storage/piecestore/
func BenchmarkPutGetHTTP(b *testing.B) {
	size := 256 << 20
	if v, err := strconv.Atoi(os.Getenv("VIMANA_BENCH_MIB")); err == nil && v > 0 {
		size = v << 20
	}
	tenant := testKey(b, 1)
	var stores []storage.PieceStore
	byName := map[string]storage.PieceStore{}
	for i := range 6 {
		s, err := Open(b.TempDir(), 1<<40, testKey(b, byte(10+i)))
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(Handler(s, nil))
		b.Cleanup(srv.Close)
		c := &Client{URL: srv.URL, Key: tenant, Deal: testDeal}
		stores, byName[c.Name()] = append(stores, c), c
	}
	data := make([]byte, size)
	rand.Read(data)
	master := bytes.Repeat([]byte{1}, 32)
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		obj, err := storage.Put(ctx, bytes.NewReader(data), stores, master, storage.DefaultParams(), nil)
		if err != nil {
			b.Fatal(err)
		}
		put := time.Since(t0)
		t0 = time.Now()
		var out bytes.Buffer
		out.Grow(size)
		if err := storage.Get(ctx, obj, byName, master, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
			b.Fatalf("get: %v", err)
		}
		get := time.Since(t0)
		mib := float64(size) / (1 << 20)
		b.ReportMetric(mib/put.Seconds(), "put-MiB/s")
		b.ReportMetric(mib/get.Seconds(), "get-MiB/s")
	}
}
