package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestStoreCLI runs every `vimana store` command on the built binary
// against the default local network under a temporary --home.
func TestStoreCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary; skipped with -short")
	}
	bin := buildVimana(t)
	home := t.TempDir()
	run := func(stdin io.Reader, args ...string) (string, string, error) {
		cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
		cmd.Env = append(os.Environ(), "VIMANA_PASSPHRASE=")
		cmd.Stdin = stdin
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, err := run(nil, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, stderr)
		}
		return out
	}
	// Without a wallet key the error says what to do.
	if _, stderr, err := run(nil, "store", "ls"); err == nil || !strings.Contains(stderr, "vimana wallet new tenant") {
		t.Fatalf("no key: %v %s", err, stderr)
	}
	must("wallet", "new", "tenant")
	must("store", "mb", "docs", "--k", "2", "--m", "1", "--segment-size", "1")
	if _, stderr, err := run(nil, "store", "mb", "docs"); err == nil || !strings.Contains(stderr, "already exists") {
		t.Fatalf("duplicate mb: %v %s", err, stderr)
	}
	data := bytes.Repeat([]byte("vimana-store-"), 300_000) // 3.9 MB: 4 segments of 1 MiB
	src := filepath.Join(t.TempDir(), "report.txt")
	os.WriteFile(src, data, 0o600)
	out := must("store", "put", src, "docs/2026/", "--meta", "Owner=ops", "-o", "json")
	var put struct {
		Key, ETag        string
		ContentType      string `json:"content_type"`
		Size             int64
		Segments, Pieces int
		Metadata         map[string]string
	}
	if err := json.Unmarshal([]byte(out), &put); err != nil || put.Size != int64(len(data)) || put.Segments != 4 || put.Pieces != 12 || put.Metadata["owner"] != "ops" {
		t.Fatalf("put -o json: %v %s", err, out)
	}
	// Not a terminal: plain progress lines on stderr, none with --quiet.
	if _, stderr, err := run(strings.NewReader("tiny"), "store", "put", "-", "docs/tiny"); err != nil || !strings.Contains(stderr, "put docs/tiny") {
		t.Fatalf("put stdin: %v %q", err, stderr)
	}
	if _, stderr, err := run(strings.NewReader("tiny"), "store", "put", "-", "docs/tiny2", "--quiet"); err != nil || stderr != "" {
		t.Fatalf("put --quiet: %v %q", err, stderr)
	}
	var ls struct {
		Objects []struct {
			Key  string
			Size int64
		}
		CommonPrefixes []string `json:"common_prefixes"`
	}
	out = must("store", "ls", "docs", "--delimiter", "/", "-o", "json")
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls.Objects) != 2 || ls.Objects[0].Key != "tiny" || len(ls.CommonPrefixes) != 1 || ls.CommonPrefixes[0] != "2026/" {
		t.Fatalf("ls: %v %s", err, out)
	}
	var buckets []struct {
		Name    string
		Objects int
	}
	if err := json.Unmarshal([]byte(must("store", "ls", "-o", "json")), &buckets); err != nil || len(buckets) != 1 || buckets[0].Objects != 3 {
		t.Fatalf("ls buckets: %v %+v", err, buckets)
	}
	if out := must("store", "stat", "docs/2026/report.txt"); !strings.Contains(out, "text/plain") || !strings.Contains(out, put.ETag) {
		t.Fatalf("stat: %s", out)
	}
	dst := filepath.Join(t.TempDir(), "back.txt")
	must("store", "get", "docs/2026/report.txt", dst)
	if b, _ := os.ReadFile(dst); !bytes.Equal(b, data) {
		t.Fatal("get: bytes differ")
	}
	if out := must("store", "get", "docs/tiny", "-", "-q"); out != "tiny" {
		t.Fatalf("get to stdout: %q", out)
	}
	// Share: the token reads through --grant; an expired one does not.
	var share struct{ Token string }
	if err := json.Unmarshal([]byte(must("store", "share", "docs/tiny", "--expires", "1m", "-o", "json")), &share); err != nil || share.Token == "" {
		t.Fatal(err)
	}
	if out := must("store", "get", "--grant", share.Token, "-", "-q"); out != "tiny" {
		t.Fatalf("get --grant: %q", out)
	}
	short := strings.TrimSpace(must("store", "share", "docs/tiny", "--expires", "1s"))
	time.Sleep(2100 * time.Millisecond)
	if _, stderr, err := run(nil, "store", "get", "--grant", short, "-"); err == nil || !strings.Contains(stderr, "expired") {
		t.Fatalf("expired grant: %v %s", err, stderr)
	}
	if _, stderr, err := run(nil, "store", "get", "docs/missing"); err == nil || !strings.Contains(stderr, "not found") {
		t.Fatalf("missing: %v %s", err, stderr)
	}
	if _, stderr, err := run(nil, "store", "rb", "docs"); err == nil || !strings.Contains(stderr, "not empty") {
		t.Fatalf("rb non-empty: %v %s", err, stderr)
	}
	// The local network has no deals: renew says which network has them.
	if _, stderr, err := run(nil, "store", "renew", "docs"); err == nil || !strings.Contains(stderr, `only network "chain" has storage deals`) {
		t.Fatalf("renew on the local network: %v %s", err, stderr)
	}
	// Renewing everything there is nothing to do, not a failure.
	if out := must("store", "renew", "--all", "--within", "100"); !strings.Contains(out, `no deals: network "local"`) {
		t.Fatalf("renew --all on the local network: %q", out)
	}
	var rep struct {
		Renewals []any `json:"renewals"`
		Renewed  int   `json:"renewed"`
	}
	if err := json.Unmarshal([]byte(must("store", "renew", "-o", "json")), &rep); err != nil || len(rep.Renewals) != 0 || rep.Renewed != 0 {
		t.Fatalf("renew -o json on the local network: %+v %v", rep, err)
	}
	if _, stderr, err := run(nil, "store", "renew", "docs", "--within", "5"); err == nil || !strings.Contains(stderr, "--within goes with --all") {
		t.Fatalf("renew BUCKET --within: %v %s", err, stderr)
	}
	must("store", "rm", "docs/2026/report.txt", "docs/tiny", "docs/tiny2")
	must("store", "rb", "docs")
	if out := must("store", "ls", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("after rb: %s", out)
	}
}

// TestS3ServeCLI starts `vimana s3 serve` on a free port, writes through
// S3, and reads the object back with `vimana store get`: one index.
func TestS3ServeCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary; skipped with -short")
	}
	bin := buildVimana(t)
	home := t.TempDir()
	env := append(os.Environ(), "VIMANA_PASSPHRASE=")
	runOK := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return string(out)
	}
	runOK("wallet", "new", "tenant")
	var creds struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	json.Unmarshal([]byte(runOK("s3", "credentials", "-o", "json")), &creds)
	srv := exec.Command(bin, "--home", home, "s3", "serve", "--listen", "127.0.0.1:0", "-o", "json")
	srv.Env = env
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	var started struct {
		Endpoint  string
		AccessKey string `json:"access_key"`
	}
	dec := json.NewDecoder(bufio.NewReader(stdout))
	if err := dec.Decode(&started); err != nil || !strings.HasPrefix(started.Endpoint, "http://127.0.0.1:") || started.AccessKey != creds.AccessKey {
		t.Fatalf("serve output: %v %+v", err, started)
	}
	c := s3.New(s3.Options{BaseEndpoint: aws.String(started.Endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKey, creds.SecretKey, "")})
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("via-s3")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("via-s3"), Key: aws.String("hello.txt"), Body: strings.NewReader("hello over s3")}); err != nil {
		t.Fatal(err)
	}
	if out := runOK("store", "get", "via-s3/hello.txt", "-", "-q"); out != "hello over s3" {
		t.Fatalf("store get after s3 put: %q", out)
	}
	srv.Process.Signal(syscall.SIGINT)
	waited := make(chan error, 1)
	go func() { waited <- srv.Wait() }()
	select {
	case <-waited:
	case <-time.After(15 * time.Second):
		t.Fatal("s3 serve did not stop on SIGINT")
	}
}

// TestDevnetCode: a devnet's store config uses the widest code its storage
// providers (nodes 1..N-1) can hold, and 4+2 from six providers up.
func TestDevnetCode(t *testing.T) {
	for n, want := range map[int][2]int{0: {1, 0}, 1: {1, 0}, 2: {1, 1}, 3: {2, 1}, 4: {2, 2}, 5: {3, 2}} {
		if k, m := devnetCode(n); k != want[0] || m != want[1] || (n > 0 && k+m > n) {
			t.Errorf("devnetCode(%d) = %d+%d, want %d+%d", n, k, m, want[0], want[1])
		}
	}
}

// TestStorePassphraseCLI: with secret = "passphrase" the storage keys come
// from the passphrase (argon2id), not the wallet file: without it nothing
// opens, with it objects read back, and another passphrase reads nothing.
func TestStorePassphraseCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary; skipped with -short")
	}
	bin := buildVimana(t)
	home := t.TempDir()
	run := func(pass string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
		cmd.Env = append(os.Environ(), "VIMANA_PASSPHRASE=", "VIMANA_STORE_PASSPHRASE="+pass)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	must := func(pass string, args ...string) string {
		t.Helper()
		out, stderr, err := run(pass, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, stderr)
		}
		return out
	}
	must("", "wallet", "new", "tenant")
	os.MkdirAll(filepath.Join(home, "store"), 0o700)
	os.WriteFile(filepath.Join(home, "store", "config.toml"), []byte("version = 1\nsecret = \"passphrase\"\n"), 0o600)
	if _, stderr, err := run("", "store", "mb", "vault"); err == nil || !strings.Contains(stderr, "VIMANA_STORE_PASSPHRASE") {
		t.Fatalf("no passphrase: %v %s", err, stderr)
	}
	if _, stderr, err := run("short", "store", "mb", "vault"); err == nil || !strings.Contains(stderr, "at least 8") {
		t.Fatalf("short passphrase: %v %s", err, stderr)
	}
	const pass = "correct horse battery staple"
	must(pass, "store", "mb", "vault", "--k", "2", "--m", "1", "--segment-size", "1")
	data := bytes.Repeat([]byte("secret-"), 200_000) // 1.4 MB: 2 segments
	src := filepath.Join(t.TempDir(), "plan.txt")
	os.WriteFile(src, data, 0o600)
	must(pass, "store", "put", src, "vault/plan.txt")
	dst := filepath.Join(t.TempDir(), "back.txt")
	must(pass, "store", "get", "vault/plan.txt", dst)
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatal("read back different bytes")
	}
	// Another passphrase (or the wallet seed) opens nothing of it, and
	// `store ls` says why the store looks empty.
	if _, stderr, err := run("another passphrase", "store", "ls"); err != nil || !strings.Contains(stderr, "sealed with another key") {
		t.Fatalf("ls with another passphrase: %v %s", err, stderr)
	}
	if out, stderr, err := run("another passphrase", "store", "get", "vault/plan.txt", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Fatalf("read with another passphrase: %s%s", out, stderr)
	}
	os.WriteFile(filepath.Join(home, "store", "config.toml"), []byte("version = 1\n"), 0o600)
	if out, stderr, err := run("", "store", "get", "vault/plan.txt", filepath.Join(t.TempDir(), "y")); err == nil {
		t.Fatalf("read with the wallet seed: %s%s", out, stderr)
	}
}
