// Command store measures the S3 gateway against the direct storage client
// in one run, on the same piece stores (6 DirStores on local disk, 4+2,
// 64 MiB segments): PUT and GET throughput of large objects through
// storage.Put/Get, through objects.Client (what `vimana store` runs: the
// index and an MD5 for the ETag on top), and through the gateway with
// aws-sdk-go-v2 over loopback; and time to first byte of a 4 KiB object
// (objects.Client.Get vs S3 GetObject), and of a 4 KiB+1 object (the
// smallest that has pieces; 4 KiB and less is inline in the index). Runs
// are interleaved so machine noise hits every path alike, and run r
// starts with a different path (the disk's write-back after one 1 GiB put
// slows the next one; -settle waits it out).
//
// With -devnet DIR the same paths run against a devnet's storage providers
// (`vimana devnet up --home DIR`): the home's store config (network
// "chain") and its tenant key; objects.Client and S3 puts open a deal per
// object, direct puts upload pieces under a deal that is never opened.
//
//	go run ./bench/store -size 256 -runs 3 -ttfb 200
//	go run ./bench/store -devnet DIR -size 256 -runs 3 -ttfb 100
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vistara-labs/vimana/bench/internal/stats"
	vs3 "github.com/vistara-labs/vimana/internal/s3"
	"github.com/vistara-labs/vimana/internal/storage"
	_ "github.com/vistara-labs/vimana/internal/storage/chainnet" // -devnet: network "chain"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func main() {
	sizeMiB := flag.Int("size", 256, "object size in MiB")
	runs := flag.Int("runs", 3, "interleaved runs per path")
	ttfbN := flag.Int("ttfb", 200, "4 KiB GETs per path for time to first byte")
	signed := flag.Bool("signed-payload", false, "sign the S3 payload (SHA-256 on client and gateway) instead of UNSIGNED-PAYLOAD")
	firstPath := flag.String("first", "direct", "the path run 0 starts with (direct, client, s3); later runs rotate")
	settleFor := flag.Duration("settle", 0, "before each path's put: sync and wait this long, so one path's disk write-back does not slow the next (0: back to back)")
	only := flag.String("only", "", "run only these paths, comma-separated: direct, client, s3 (default: all, interleaved)")
	dir := flag.String("dir", "", "where the piece stores go (default: a temporary directory, removed at the end)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	devnet := flag.String("devnet", "", "a devnet home (vimana devnet up --home DIR): store on its providers as its tenant")
	flag.Parse()
	log.SetFlags(0)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	root := *dir
	seed := bytes.Repeat([]byte{42}, 32)
	cfg := objects.DefaultConfig()
	where := "6 DirStores in " + root
	if *devnet != "" {
		var err error
		root = *devnet
		if cfg, err = objects.LoadConfig(filepath.Join(root, "store", "config.toml")); err != nil {
			log.Fatal(err)
		}
		ks, err := wallet.OpenKeystore(filepath.Join(root, "keys"))
		if err != nil {
			log.Fatal(err)
		}
		k, err := ks.Load(cfg.Key, nil) // devnet keys: empty passphrase
		if err != nil {
			log.Fatal(err)
		}
		seed = k.Seed()
		where = fmt.Sprintf("network %q of devnet %s", cfg.Network, root)
	} else if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "bench-store-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(root)
		where = "6 DirStores in " + root
	}
	ctx := context.Background()
	c, err := objects.Open(root, cfg, seed)
	if err != nil {
		log.Fatal(err)
	}
	bcfg := index.BucketConfig{Params: cfg.Params()}
	bucket := fmt.Sprintf("bench-%d", time.Now().UnixNano()) // reruns on one home
	if err := c.CreateBucket(ctx, bucket, bcfg); err != nil {
		log.Fatal(err)
	}
	master, _ := storage.MasterKey(seed, "objects")
	// direct: the pipeline alone, on the stores the network places on
	// (a DealNetwork's upload stores; its deal is never opened).
	place := func() []storage.PieceStore {
		if dn, ok := c.Net.(objects.DealNetwork); ok {
			up, err := dn.BeginPut(ctx, bcfg)
			if err != nil {
				log.Fatal(err)
			}
			return up.Stores
		}
		ss, err := c.Net.Place(ctx, bcfg)
		if err != nil {
			log.Fatal(err)
		}
		return ss
	}

	creds := vs3.DeriveCredentials(seed)
	ready := make(chan string, 1)
	go func() {
		err := vs3.Serve(ctx, vs3.Config{Listen: "127.0.0.1:0", Creds: creds, Backend: &vs3.Backend{C: c, Bucket: bcfg},
			Ready: func(a string) { ready <- a }})
		log.Fatalf("gateway: %v", err)
	}()
	addr := <-ready
	opts := s3.Options{BaseEndpoint: aws.String("http://" + addr), Region: "us-east-1", UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(creds.AccessKey, creds.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired}
	var apiOpts []func(*s3.Options)
	if !*signed {
		apiOpts = append(apiOpts, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	}
	sc := s3.New(opts, apiOpts...)

	size := *sizeMiB << 20
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	mbps := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }

	// settle lets the disk drain what the previous path wrote: six
	// providers share this machine's one disk, whose sustained write rate
	// (not the code) otherwise decides the second and third puts.
	settle := func() {
		if *settleFor > 0 {
			syscall.Sync()
			time.Sleep(*settleFor)
		}
	}
	want := func(path string) bool { return *only == "" || slices.Contains(strings.Split(*only, ","), path) }
	type result struct{ put, get []float64 }
	res := map[string]*result{"direct": {}, "client": {}, "s3": {}}
	paths := map[string]func(run int){
		// direct: the pipeline alone.
		"direct": func(run int) {
			stores := place()
			t0 := time.Now()
			obj, err := storage.Put(ctx, bytes.NewReader(data), stores, master, bcfg.Params, nil)
			if err != nil {
				log.Fatal(err)
			}
			tp := time.Since(t0)
			t0 = time.Now()
			byName, err := c.Net.Resolve(ctx, obj.Stores)
			if err != nil {
				log.Fatal(err)
			}
			if err := storage.Get(ctx, obj, byName, master, io.Discard); err != nil {
				log.Fatal(err)
			}
			res["direct"].put, res["direct"].get = append(res["direct"].put, mbps(tp)), append(res["direct"].get, mbps(time.Since(t0)))
		},
		// client: index + MD5 + pipeline (what `vimana store put/get` does).
		"client": func(run int) {
			key := fmt.Sprintf("client-%d", run)
			t0 := time.Now()
			if _, err := c.Put(ctx, bucket, key, bytes.NewReader(data), objects.PutOptions{}); err != nil {
				log.Fatal(err)
			}
			tp := time.Since(t0)
			t0 = time.Now()
			if _, err := c.Get(ctx, bucket, key, io.Discard, nil); err != nil {
				log.Fatal(err)
			}
			res["client"].put, res["client"].get = append(res["client"].put, mbps(tp)), append(res["client"].get, mbps(time.Since(t0)))
		},
		// s3: aws-sdk-go-v2 → loopback → versitygw → backend → pipeline.
		"s3": func(run int) {
			key := fmt.Sprintf("s3-%d", run)
			t0 := time.Now()
			if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(size))}); err != nil {
				log.Fatal(err)
			}
			tp := time.Since(t0)
			t0 = time.Now()
			out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				log.Fatal(err)
			}
			n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, out.Body, make([]byte, 1<<20)) // 1 MiB reads, as a client writing a file would
			out.Body.Close()
			if err != nil || n != int64(size) {
				log.Fatalf("s3 get: %d bytes, %v", n, err)
			}
			res["s3"].put, res["s3"].get = append(res["s3"].put, mbps(tp)), append(res["s3"].get, mbps(time.Since(t0)))
		},
	}
	// Run r starts with path r mod 3 (direct, client, s3 in turn): six
	// providers share this machine's one disk, and a put that follows
	// another 1 GiB put meets its write-back, so no path is always second.
	order := []string{"direct", "client", "s3"}
	first := slices.Index(order, *firstPath)
	if first < 0 {
		log.Fatalf("-first %q: want direct, client or s3", *firstPath)
	}
	for run := range *runs {
		for i := range order {
			name := order[(first+run+i)%len(order)]
			if want(name) {
				settle()
				paths[name](run)
			}
		}
	}
	med := func(v []float64) float64 {
		if len(v) == 0 {
			return math.NaN() // path not run (-only)
		}
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	payload := "UNSIGNED-PAYLOAD"
	if *signed {
		payload = "signed payload (SHA-256)"
	}
	fmt.Printf("%d MiB objects, %d interleaved runs, %d+%d, %d MiB segments, %s; S3 with %s\n",
		*sizeMiB, *runs, cfg.K, cfg.M, cfg.SegmentSize>>20, where, payload)
	mb := func(mibps float64) float64 { return mibps * (1 << 20) / 1e6 }
	fmt.Printf("%-34s %20s %20s\n", "path (median)", "PUT MiB/s (MB/s)", "GET MiB/s (MB/s)")
	for _, p := range []struct{ name, label string }{{"direct", "storage.Put/Get (pipeline only)"}, {"client", "objects.Client (vimana store)"}, {"s3", "S3 gateway (aws-sdk-go-v2)"}} {
		put, get := med(res[p.name].put), med(res[p.name].get)
		fmt.Printf("%-34s %12.1f (%5.0f) %12.1f (%5.0f)\n", p.label, put, mb(put), get, mb(get))
	}
	// The direct client is objects.Client: what `vimana store` runs, with
	// the index, the ETag's MD5 and the deal, as the gateway has.
	fmt.Printf("%-34s %19.2f× %19.2f×\n", "S3 / objects.Client (≥0.7×)", med(res["s3"].put)/med(res["client"].put), med(res["s3"].get)/med(res["client"].get))
	fmt.Printf("%-34s %19.2f× %19.2f×\n", "S3 / pipeline only", med(res["s3"].put)/med(res["direct"].put), med(res["s3"].get)/med(res["direct"].get))
	verdict := func(v, target float64) string {
		if v >= target {
			return "met"
		}
		return "MISSED"
	}
	cput, cget := mb(med(res["client"].put)), mb(med(res["client"].get))
	fmt.Printf("targets (vimana store): put %.0f MB/s vs ≥150: %s; get %.0f MB/s vs ≥300: %s\n",
		cput, verdict(cput, 150), cget, verdict(cget, 300))

	// Time to first byte of a 4 KiB object (inline in the index) and of
	// a 4 KiB+1 one (one segment of pieces: the network's round trip).
	for _, n := range []int{4096, 4097} {
		ttfb(ctx, c, sc, bucket, data[:n], *ttfbN)
	}
}

func ttfb(ctx context.Context, c *objects.Client, sc *s3.Client, bucket string, small []byte, runs int) {
	key := fmt.Sprintf("small-%d", len(small))
	if _, err := c.Put(ctx, bucket, key, bytes.NewReader(small), objects.PutOptions{}); err != nil {
		log.Fatal(err)
	}
	var direct, gw []time.Duration
	for range runs {
		t0 := time.Now()
		fw := &firstByte{}
		if _, err := c.Get(ctx, bucket, key, fw, nil); err != nil {
			log.Fatal(err)
		}
		direct = append(direct, fw.at.Sub(t0))
		t0 = time.Now()
		out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			log.Fatal(err)
		}
		var one [1]byte
		if _, err := io.ReadFull(out.Body, one[:]); err != nil {
			log.Fatal(err)
		}
		gw = append(gw, time.Since(t0))
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1e3) }
	for _, row := range []struct {
		name string
		s    []time.Duration
	}{{"objects.Client.Get", direct}, {"S3 GetObject", gw}} {
		sum := stats.Summarize(row.s)
		fmt.Printf("%d B TTFB %-20s n=%d p50=%s p90=%s p99=%s\n", len(small), row.name, sum.N, us(sum.P50), us(sum.P90), us(sum.P99))
	}
}

type firstByte struct{ at time.Time }

func (f *firstByte) Write(p []byte) (int, error) {
	if f.at.IsZero() && len(p) > 0 {
		f.at = time.Now()
	}
	return len(p), nil
}
