package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/node"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// TestStoreCLIDevnet is `vimana store` and `vimana s3 serve` on a devnet
// (node 0 the edge, six storage providers): the devnet home's store config
// selects the "chain" network, so a put places 4+2 pieces on six
// providers and opens a deal on chain; the file reads back byte-exact,
// and again after two of the holders' node processes are SIGKILLed. An
// object put through the S3 gateway before the kill reads back through it
// after. A new home with the tenant's seed imported recovers both buckets
// from the network (store ls/get, an S3 gateway there, store sync).
func TestStoreCLIDevnet(t *testing.T) {
	ctx, bin, dir, d, cc := startStorageDevnet(t, 7, 4*time.Minute)
	waitStorageProviders(ctx, t, cc, 6)

	vim := func(args ...string) string {
		t.Helper()
		return execOK(t, bin, append([]string{"--home", dir}, args...)...)
	}
	vim("store", "mb", "bkt", "--segment-size", "1")
	data := make([]byte, 3<<20+12345) // 4 segments of 1 MiB
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var put entryView
	if err := json.Unmarshal([]byte(vim("store", "put", src, "bkt/blob", "-q", "-o", "json")), &put); err != nil {
		t.Fatal(err)
	}
	if len(put.Stores) != 6 || len(put.Deals) != 1 || put.Segments != 4 {
		t.Fatalf("put: %+v", put)
	}
	dl, err := cc.Deal(ctx, put.Deals[0])
	if err != nil || dl.Owner.String() != d.Tenant || len(dl.Segments) != 4 || dl.State != market.DealActive {
		t.Fatalf("deal on chain: %+v %v", dl, err)
	}
	get := func(what string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out.bin")
		t0 := time.Now()
		vim("store", "get", "bkt/blob", out, "-q")
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("store get %s: %d bytes, differs from the %d put (%v)", what, len(got), len(data), err)
		}
		t.Logf("store get %s: %s", what, time.Since(t0).Round(time.Millisecond))
	}
	get("with every provider up")

	// The S3 gateway over the same home: put now, get after the kill.
	s3c, stopS3 := startS3(t, bin, dir)
	small := make([]byte, 200<<10) // 200 KiB: pieces, not inline
	rand.Read(small)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("s3b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("s3b"), Key: aws.String("small"), Body: bytes.NewReader(small)}); err != nil {
		t.Fatal(err)
	}
	var st entryView
	json.Unmarshal([]byte(vim("store", "stat", "s3b/small", "-o", "json")), &st)
	if len(st.Deals) != 1 || len(st.Stores) != 6 {
		t.Fatalf("s3 put did not go to the chain network: %+v", st)
	}

	// SIGKILL two holders' node processes.
	nodeOf := map[string]int{}
	for i, a := range d.Providers {
		nodeOf[a] = i
	}
	for _, a := range []string{put.Stores[1], put.Stores[4]} {
		i, ok := nodeOf[a]
		if !ok || i == 0 {
			t.Fatalf("store %s is not a provider node", a)
		}
		if err := syscall.Kill(d.Nodes[i].Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	get("with two holders killed")
	res, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("s3b"), Key: aws.String("small")})
	if err != nil {
		t.Fatalf("s3 get with two holders killed: %v", err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Equal(got, small) {
		t.Fatal("s3 get with two holders killed: differs")
	}
	stopS3() // flushes the gateway's debounced index changes

	// A fresh home with the same wallet key recovers every bucket and
	// object from the network (the index is replicated with pointers on
	// chain) and reads them byte-exact, with the two holders still dead.
	ks, err := wallet.OpenKeystore(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := ks.Load("tenant", nil)
	if err != nil {
		t.Fatal(err)
	}
	home2 := t.TempDir()
	seedFile := filepath.Join(t.TempDir(), "seed")
	cfgRaw, err := os.ReadFile(filepath.Join(dir, "store", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seedFile, []byte(hex.EncodeToString(tk.Seed())), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home2, "store"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home2, "store", "config.toml"), cfgRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	vim2 := func(args ...string) string {
		t.Helper()
		return execOK(t, bin, append([]string{"--home", home2}, args...)...)
	}
	vim2("wallet", "import", "tenant", "--seed-file", seedFile)
	var buckets []struct {
		Name    string `json:"name"`
		Objects int    `json:"objects"`
	}
	if err := json.Unmarshal([]byte(vim2("store", "ls", "-o", "json")), &buckets); err != nil {
		t.Fatal(err)
	}
	if len(buckets) != 2 || buckets[0].Name != "bkt" || buckets[0].Objects != 1 || buckets[1].Name != "s3b" || buckets[1].Objects != 1 {
		t.Fatalf("store ls on a new home: %+v", buckets)
	}
	for obj, want := range map[string][]byte{"bkt/blob": data, "s3b/small": small} {
		out := filepath.Join(t.TempDir(), "out.bin")
		vim2("store", "get", obj, out, "-q")
		if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("store get %s on a new home: %d bytes, want %d (%v)", obj, len(got), len(want), err)
		}
	}
	s3r, stopS3r := startS3(t, bin, home2) // the gateway on the new home sees them too
	lb, err := s3r.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 2 || aws.ToString(lb.Buckets[0].Name) != "bkt" || aws.ToString(lb.Buckets[1].Name) != "s3b" {
		t.Fatalf("s3 ListBuckets on a new home: %+v %v", lb, err)
	}
	if res, err := s3r.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("s3b"), Key: aws.String("small")}); err != nil {
		t.Fatalf("s3 get on a new home: %v", err)
	} else {
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !bytes.Equal(got, small) {
			t.Fatal("s3 get on a new home: differs")
		}
	}
	stopS3r()
	var synced []struct{ Bucket, Action string }
	if err := json.Unmarshal([]byte(vim2("store", "sync", "-o", "json")), &synced); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 2 || synced[0].Action != "current" || synced[1].Action != "current" {
		t.Fatalf("store sync on the recovered home: %+v", synced)
	}

	// store renew moves the deal's expiry and tops up its escrow; stat
	// shows the chain's expiry and escrow.
	var rn struct {
		Renewed []struct {
			Object    string `json:"object"`
			Deal      string `json:"deal"`
			OldExpiry int64  `json:"old_expiry"`
			Expiry    int64  `json:"expiry"`
			Deposit   uint64 `json:"deposit"`
		} `json:"renewed"`
	}
	if err := json.Unmarshal([]byte(vim("store", "renew", "bkt/blob", "--blocks", "1000", "-o", "json")), &rn); err != nil {
		t.Fatal(err)
	}
	if len(rn.Renewed) != 1 || rn.Renewed[0].Deal != put.Deals[0] || rn.Renewed[0].OldExpiry != dl.Expiry ||
		rn.Renewed[0].Expiry != dl.Expiry+1000 || rn.Renewed[0].Deposit == 0 {
		t.Fatalf("store renew: %+v (deal expired at %d)", rn, dl.Expiry)
	}
	var stat entryView
	json.Unmarshal([]byte(vim("store", "stat", "bkt/blob", "-o", "json")), &stat)
	if len(stat.DealStatus) != 1 || stat.DealStatus[0].Expiry != dl.Expiry+1000 || stat.DealStatus[0].State != market.DealActive {
		t.Fatalf("store stat after renew: %+v", stat.DealStatus)
	}
	// store renew --all --within: the deal just renewed ends far past the
	// window, so it is skipped with its expiry and nothing fails.
	var all struct {
		Renewals []struct {
			Kind, Object, Deal, Action string
			Expiry                     int64
		}
		Failed int
	}
	if err := json.Unmarshal([]byte(vim("store", "renew", "--all", "--within", "10", "-o", "json")), &all); err != nil {
		t.Fatal(err)
	}
	skipped := false
	for _, r := range all.Renewals {
		skipped = skipped || (r.Object == "bkt/blob" && r.Deal == put.Deals[0] && r.Action == "skipped" && r.Expiry == dl.Expiry+1000)
	}
	if !skipped || all.Failed != 0 {
		t.Fatalf("store renew --all --within 10: %+v", all)
	}

	// store rm closes the object's deal on chain and reports the refund.
	var rm struct {
		Removed []string `json:"removed"`
		Objects []struct {
			Closed []struct {
				Deal   string `json:"deal"`
				State  string `json:"state"`
				Refund uint64 `json:"refund"`
			} `json:"closed"`
			Error string `json:"error"`
		} `json:"objects"`
		Refund uint64 `json:"refund"`
	}
	if err := json.Unmarshal([]byte(vim("store", "rm", "bkt/blob", "-o", "json")), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.Objects) != 1 || len(rm.Objects[0].Closed) != 1 || rm.Objects[0].Closed[0].Deal != put.Deals[0] ||
		rm.Objects[0].Closed[0].State != market.DealClosed || rm.Refund == 0 {
		t.Fatalf("store rm: %+v", rm)
	}
	if dl, err = cc.Deal(ctx, put.Deals[0]); err != nil || dl.State != market.DealClosed || dl.Refund != rm.Refund {
		t.Fatalf("deal after store rm: %+v %v (rm says refund %d)", dl, err, rm.Refund)
	}
}

// waitStorageProviders waits until n providers offering storage are active.
func waitStorageProviders(ctx context.Context, t *testing.T, cc *chain.Client, n int) []market.Provider {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		ps, err := cc.Providers(ctx)
		var ok []market.Provider
		for _, p := range ps {
			if err == nil && p.Storage > 0 && p.Status == market.ProviderActive {
				ok = append(ok, p)
			}
		}
		if len(ok) >= n {
			return ok
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d storage providers registered, want %d", len(ok), n)
		}
	}
}

// startS3 runs `vimana --home home s3 serve` on a free port and returns a
// client for it and a stop that SIGINTs it and waits.
func startS3(t *testing.T, bin, home string) (*s3.Client, func()) {
	t.Helper()
	srv := exec.Command(bin, "--home", home, "s3", "serve", "--listen", "127.0.0.1:0", "-o", "json")
	srv.Env = append(os.Environ(), "VIMANA_PASSPHRASE=")
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- srv.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Process.Signal(syscall.SIGINT)
			select {
			case <-waited:
			case <-time.After(15 * time.Second):
				srv.Process.Kill()
				<-waited
			}
		})
	}
	t.Cleanup(stop)
	var started struct {
		Endpoint  string
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&started); err != nil {
		stop()
		t.Fatalf("s3 serve output: %v", err)
	}
	c := s3.New(s3.Options{BaseEndpoint: aws.String(started.Endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(started.AccessKey, started.SecretKey, "")})
	return c, stop
}

// TestStoreRepairDevnet: on 8 nodes (7 storage providers), a `store put`
// lands on six; one holder is killed and node 0's repair worker moves its
// pieces to the seventh. Then two more original holders lose their piece
// files, so the index entry's placement has only 3 of 6 pieces per
// segment: `store get` still reads byte-exact because the client asks the
// chain where the deal's pieces are now (objects.Locator).
func TestStoreRepairDevnet(t *testing.T) {
	ctx, bin, dir, d, cc := startStorageDevnet(t, 8, 4*time.Minute)
	waitStorageProviders(ctx, t, cc, 7)

	vim := func(args ...string) string {
		t.Helper()
		return execOK(t, bin, append([]string{"--home", dir}, args...)...)
	}
	vim("store", "mb", "bkt", "--segment-size", "1")
	data := make([]byte, 2<<20+99)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "blob.bin")
	os.WriteFile(src, data, 0o600)
	var put entryView
	if err := json.Unmarshal([]byte(vim("store", "put", src, "bkt/blob", "-q", "-o", "json")), &put); err != nil || len(put.Deals) != 1 {
		t.Fatalf("put: %+v %v", put, err)
	}
	nodeOf := map[string]int{}
	for i, a := range d.Providers {
		nodeOf[a] = i
	}
	killed := put.Stores[0]
	if err := syscall.Kill(d.Nodes[nodeOf[killed]].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(300 * time.Millisecond) {
		dl, err := cc.Deal(ctx, put.Deals[0])
		onKilled := 0
		for _, seg := range dl.Segments {
			for _, pc := range seg.Pieces {
				if pc.Provider.String() == killed {
					onKilled++
				}
			}
		}
		if err == nil && !dl.Repair && onKilled == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deal not repaired: %+v (%v)", dl, err)
		}
	}
	for _, a := range put.Stores[1:3] {
		pieces := filepath.Join(d.Nodes[nodeOf[a]].Home, "pieces")
		ents, _ := os.ReadDir(pieces)
		for _, e := range ents {
			os.RemoveAll(filepath.Join(pieces, e.Name()))
		}
	}
	out := filepath.Join(t.TempDir(), "out.bin")
	vim("store", "get", "bkt/blob", out, "-q")
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("store get after repair with 3 of the put's holders gone: %d bytes, %v", len(got), err)
	}
}

// startStorageDevnet is the start of every storage devnet test: root and
// -short skips, a fresh devnet of nodes processes under a temporary home
// (brought down at cleanup), its status, and a client of node 0's chain.
// The context ends after timeout or with the test.
func startStorageDevnet(t *testing.T, nodes int, timeout time.Duration) (context.Context, string, string, node.Devnet, *chain.Client) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("devnet nodes run the sandbox supervisor: needs root; CI runs this as root")
	}
	if testing.Short() {
		t.Skipf("starts a %d-node devnet; skipped with -short", nodes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	bin := buildVimana(t)
	dir := filepath.Join(t.TempDir(), "devnet")
	t.Cleanup(func() { execErr(bin, "devnet", "down", "--home", dir) })
	execOK(t, bin, "devnet", "up", "--nodes", strconv.Itoa(nodes), "--home", dir)
	d := devnetStatus(t, bin, dir)
	return ctx, bin, dir, d, &chain.Client{RPC: d.Nodes[0].RPC}
}
