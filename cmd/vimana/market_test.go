package main

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/node"
	"github.com/vistara-labs/vimana/internal/tenant"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// execOK runs the binary with a deadline and returns stdout; on failure the test
// stops with the combined output.
func execOK(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := execErr(bin, args...)
	if err != nil {
		t.Fatalf("vimana %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func execErr(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func httpGet(url string) (int, string) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: tenant.LoopbackTransport()}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func leaseStatus(t *testing.T, bin, dir, id string) leaseView {
	t.Helper()
	var v leaseView
	if err := json.Unmarshal([]byte(execOK(t, bin, "--home", dir, "lease", "status", id, "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMarketplaceE2E is issue 5's "done when" on a devnet of real node
// processes: deploy → HTTP 200 → logs → kill the provider → rescheduled
// under the same ID → HTTP 200 at the same URL → close → refund; tenant B
// can neither read the logs of nor close tenant A's lease.
func TestMarketplaceE2E(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("providers run leases in the sandbox: needs root; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("starts a 4-node devnet; skipped with -short")
	}
	bin := buildVimana(t)
	work := t.TempDir()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	regHost := strings.TrimPrefix(reg.URL, "http://")

	hello := imagetest.GoBinary(t, "./examples/hello")
	img, err := image.Build(image.BuildOptions{Binary: hello, Path: "/hello", Ports: []string{"8080"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteLayout(img, filepath.Join(work, "image"), "latest"); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../examples/hello/hac.toml")
	if err != nil {
		t.Fatal(err)
	}
	hacFile := filepath.Join(work, "hac.toml")
	if err := os.WriteFile(hacFile, src, 0o644); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(work, "devnet")
	t.Cleanup(func() { exec.Command(bin, "devnet", "down", "--home", dir).Run() })
	execOK(t, bin, "devnet", "up", "--nodes", "4", "--home", dir)
	d := devnetStatus(t, bin, dir)
	cc := &chain.Client{RPC: d.Nodes[0].RPC}
	ctx := context.Background()
	tenantAddr, err := wallet.ParseAddress(d.Tenant)
	if err != nil {
		t.Fatal(err)
	}

	// Deploy: the local image is pushed and ordered by digest.
	start := time.Now()
	var res tenant.Result
	out := execOK(t, bin, "--home", dir, "deploy", hacFile, "--registry", regHost, "-o", "json")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("deploy -o json: %v\n%s", err, out)
	}
	t.Logf("deploy → serving in %s (CLI: %s)", time.Since(start).Round(time.Millisecond), res.Elapsed)
	if !market.ValidID(res.Lease) || res.Provider == "" || res.Price == 0 || !res.Serving {
		t.Fatalf("deploy result %+v", res)
	}
	if code, body := httpGet(res.URL); code != 200 || !strings.Contains(body, "hello from") {
		t.Fatalf("GET %s = %d %q", res.URL, code, body)
	}
	if logs := execOK(t, bin, "--home", dir, "lease", "logs", res.Lease); !strings.Contains(logs, "listening") {
		t.Errorf("lease logs: %q", logs)
	}
	st := leaseStatus(t, bin, dir, res.Lease)
	if st.ProviderAddress != res.Provider || st.State != market.OrderLeased || st.Endpoint == "" {
		t.Fatalf("lease status: %+v", st)
	}

	// The winning node sees its lease as a provider.
	for _, n := range d.Nodes {
		if n.API != st.Endpoint {
			continue
		}
		var pr market.Provider
		if err := json.Unmarshal([]byte(execOK(t, bin, "--home", n.Home, "provider", "status", "-o", "json")), &pr); err != nil {
			t.Fatal(err)
		}
		if pr.Address.String() != res.Provider || pr.Status != market.ProviderActive || len(pr.Leases) == 0 {
			t.Errorf("provider status on node %d: %+v", n.Index, pr)
		}
	}

	// Secrets: sealed to the winning provider, never on chain or in logs.
	secretHac := filepath.Join(work, "greeter.toml")
	body := strings.Replace(string(src), `name = "hello"`, `name = "greeter"`, 1) + "\n[secrets]\nnames = [\"GREETING\"]\n"
	if err := os.WriteFile(secretHac, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	const secret = "bonjour-7f3a9c"
	cmd := exec.Command(bin, "--home", dir, "deploy", secretHac, "--registry", regHost, "-o", "json")
	cmd.Env = append(os.Environ(), "GREETING="+secret)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out2, err := cmd.Output()
	if err != nil {
		t.Fatalf("deploy with secrets: %v\n%s\nstderr:\n%s", err, out2, stderr.String())
	}
	var sres tenant.Result
	if err := json.Unmarshal(out2, &sres); err != nil {
		t.Fatal(err)
	}
	if code, body := httpGet(sres.URL); code != 200 || !strings.HasPrefix(body, secret+" from") {
		t.Fatalf("GET %s = %d %q, want the secret greeting", sres.URL, code, body)
	}
	if st := execOK(t, bin, "--home", dir, "lease", "status", sres.Lease, "-o", "json"); strings.Contains(st, secret) || !strings.Contains(st, "GREETING") {
		t.Errorf("chain record leaks the secret or lacks its name: %s", st)
	}
	for _, n := range d.Nodes {
		if b, _ := os.ReadFile(n.Log); strings.Contains(string(b), secret) {
			t.Errorf("node %d logged the secret", n.Index)
		}
	}
	execOK(t, bin, "--home", dir, "lease", "close", sres.Lease)

	// An order nobody can serve fails with a reason and refunds the deposit.
	marsHac := filepath.Join(work, "mars.toml")
	mars := strings.Replace(string(src), `restart = "on-failure"`, "restart = \"on-failure\"\nregions = [\"mars\"]", 1)
	if err := os.WriteFile(marsHac, []byte(mars), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := cc.Account(ctx, tenantAddr)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := execErr(bin, "--home", dir, "deploy", marsHac, "--registry", regHost); err == nil || !strings.Contains(out, market.ReasonNoBids) || !strings.Contains(out, "refunded") {
		t.Errorf("unservable order: %v\n%s", err, out)
	}
	prm, err := cc.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := cc.Account(ctx, tenantAddr); before.Balance-after.Balance != (after.Nonce-before.Nonce)*prm.MinFee {
		t.Errorf("unservable order cost %d uvis; only the fee (%d × %d) should be gone", before.Balance-after.Balance, after.Nonce-before.Nonce, prm.MinFee)
	}

	// Tenant B: its key is not the lease owner's.
	execOK(t, bin, "--home", dir, "wallet", "new", "mallory")
	execOK(t, bin, "--home", dir, "wallet", "send", "tenant", "mallory", "5vis")
	if out, err := execErr(bin, "--home", dir, "lease", "logs", res.Lease, "--key", "mallory"); err == nil || !strings.Contains(out, "permission_denied") {
		t.Errorf("tenant B read A's logs: %v\n%s", err, out)
	}
	if out, err := execErr(bin, "--home", dir, "lease", "exec", res.Lease, "--key", "mallory", "--", "/hello", "-h"); err == nil {
		t.Errorf("tenant B exec'd into A's lease: %s", out)
	}
	if out, err := execErr(bin, "--home", dir, "lease", "close", res.Lease, "--key", "mallory"); err == nil || !strings.Contains(out, "neither owns") {
		t.Errorf("tenant B closed A's lease: %v\n%s", err, out)
	}

	// SIGKILL the provider's node process.
	victim := -1
	for _, n := range d.Nodes {
		if n.API == st.Endpoint {
			victim = n.Index
		}
	}
	if victim < 1 {
		t.Fatalf("provider endpoint %s is not a devnet provider node: %+v", st.Endpoint, d.Nodes)
	}
	syscall.Kill(d.Nodes[victim].Pid, syscall.SIGKILL)
	killed := time.Now()
	var moved leaseView
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		moved = leaseStatus(t, bin, dir, res.Lease)
		if moved.State == market.OrderLeased && moved.ProviderAddress != res.Provider {
			if code, _ := httpGet(res.URL); code == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease not served again within 90s of killing its provider: %+v", moved)
		}
	}
	t.Logf("provider killed → lease rescheduled and serving at the same URL in %s", time.Since(killed).Round(time.Millisecond))
	// The killed provider comes back: it sees the lease moved and removes
	// its stale copy.
	restartNode(t, bin, d.Nodes[victim])
	if moved.Leases != 2 || moved.Reason != market.ReasonProviderLost || moved.ID != res.Lease {
		t.Errorf("rescheduled lease: %+v", moved)
	}

	// Close: the tenant gets the unspent escrow back.
	p, err := cc.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	execOK(t, bin, "--home", dir, "lease", "close", res.Lease)
	closed := leaseStatus(t, bin, dir, res.Lease)
	if closed.State != market.OrderClosed || closed.Reason != market.ReasonClosedByTenant || closed.Escrow != 0 {
		t.Fatalf("closed lease: %+v", closed)
	}
	acc, err := cc.Account(ctx, tenantAddr)
	if err != nil {
		t.Fatal(err)
	}
	// The tenant paid: both leases' blocks to providers, 5 VIS to mallory,
	// and a fee per tx; the unservable order's deposit came back.
	greeter, err := cc.Order(ctx, sres.Lease)
	if err != nil {
		t.Fatal(err)
	}
	want := node.DevnetFunds - closed.Paid - greeter.Paid - 5_000_000 - acc.Nonce*p.MinFee
	if acc.Balance != want {
		t.Errorf("tenant balance %d, want %d (paid %d, %d txs at fee %d)", acc.Balance, want, closed.Paid, acc.Nonce, p.MinFee)
	}
	// The provider stops serving it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if code, _ := httpGet(res.URL); code != 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still serves after close", res.URL)
		}
	}
}

// restartNode starts a devnet node again (devnet down stops it by the pid
// recorded here).
func restartNode(t *testing.T, bin string, n node.DevnetNode) {
	t.Helper()
	logf, err := os.OpenFile(n.Log, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--home", n.Home, "node", "start")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
}
