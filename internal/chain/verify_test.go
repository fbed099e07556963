package chain

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// startNode starts a one-validator chain funding alice and waits for block 2.
func startNode(t *testing.T, chainID string, alice *wallet.Key, extra func(*Config)) (*Node, *rpchttp.HTTP) {
	t.Helper()
	c := Config{
		Home:      filepath.Join(t.TempDir(), "home"),
		ChainID:   chainID,
		Genesis:   app.Genesis{MinFee: 10, Balances: []app.GenesisBalance{{Address: alice.Address(), Amount: 1_000_000}}},
		RPCListen: freeAddr(t),
		P2PListen: freeAddr(t),
	}
	if extra != nil {
		extra(&c)
	}
	n, err := Start(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	rc, err := rpchttp.New(n.RPCAddress())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "block 2", func() bool {
		st, err := rc.Status(context.Background())
		return err == nil && st.SyncInfo.LatestBlockHeight >= 2
	})
	return n, rc
}

func httpURL(tcp string) string { return "http://" + strings.TrimPrefix(tcp, "tcp://") }

// transfer sends amount from k to to with k's committed nonce and waits
// until to's balance shows it.
func transfer(t *testing.T, c *Client, k *wallet.Key, to wallet.Address, amount uint64) {
	t.Helper()
	ctx := context.Background()
	before, err := c.Account(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Transfer(ctx, k, to, amount, 10)
	if err != nil || res.Code != app.CodeOK {
		t.Fatalf("transfer: %+v %v", res, err)
	}
	eventually(t, "the transfer", func() bool {
		acc, err := c.Account(ctx, to)
		return err == nil && acc.Balance == before.Balance+amount
	})
}

// tamperer is a JSON-RPC proxy that rewrites abci_query answers.
type tamperer struct {
	target string
	mode   string // "", "value", "proof", "absent", "key"
}

func (p *tamperer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if p.mode != "" && bytes.Contains(body, []byte(`"abci_query"`)) {
		out = p.tamper(out)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (p *tamperer) tamper(raw []byte) []byte {
	var env map[string]any
	if json.Unmarshal(raw, &env) != nil {
		return raw
	}
	res, _ := env["result"].(map[string]any)
	r, _ := res["response"].(map[string]any)
	flip := func(s any) string {
		b, _ := base64.StdEncoding.DecodeString(s.(string))
		b[len(b)-1] ^= 1
		return base64.StdEncoding.EncodeToString(b)
	}
	switch p.mode {
	case "value":
		r["value"] = flip(r["value"])
	case "absent":
		delete(r, "value")
	case "key":
		r["key"] = flip(r["key"])
	case "proof":
		ops := r["proofOps"].(map[string]any)["ops"].([]any)
		op := ops[0].(map[string]any)
		b, _ := base64.StdEncoding.DecodeString(op["data"].(string))
		b[len(b)/2] ^= 1
		op["data"] = base64.StdEncoding.EncodeToString(b)
	}
	out, _ := json.Marshal(env)
	return out
}

func TestVerifiedQuery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	alice, _ := wallet.Generate(nil)
	bob, _ := wallet.Generate(nil)
	const chainID = "vimana-verify-test"
	ctx := context.Background()
	n, _ := startNode(t, chainID, alice, nil)
	rpc := httpURL(n.RPCAddress())
	c := &Client{RPC: rpc}
	transfer(t, c, alice, bob.Address(), 12345)

	// One node: it is its own witness.
	v, err := NewVerifier(ctx, c, chainID, []string{rpc}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	acc, pr, err := v.Account(ctx, bob.Address())
	if err != nil {
		t.Fatalf("verified query: %v", err)
	}
	if acc.Balance != 12345 || pr.Header != pr.Height+1 || len(pr.AppHash) != 64 {
		t.Fatalf("bob = %+v, proven %+v", acc, pr)
	}
	ghost, _ := wallet.Generate(nil)
	if acc, _, err := v.Account(ctx, ghost.Address()); err != nil || acc != (app.Account{}) {
		t.Fatalf("absent account: %+v %v", acc, err)
	}

	// A node that lies about the value, the proof, presence or the key is
	// caught; headers still come from the honest node.
	proxy := &tamperer{target: rpc}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	liar := &Verifier{C: &Client{RPC: srv.URL}, LC: v.LC}
	if _, _, err := liar.Account(ctx, bob.Address()); err != nil {
		t.Fatalf("honest answer through the proxy: %v", err)
	}
	for _, mode := range []string{"value", "proof", "absent", "key"} {
		proxy.mode = mode
		if acc, _, err := liar.Account(ctx, bob.Address()); !errors.Is(err, ErrUnverified) {
			t.Errorf("tampered %s: %+v, %v; want ErrUnverified", mode, acc, err)
		}
	}

	// A root of trust given explicitly (block 1's hash, as from genesis
	// tooling or a block explorer) works the same.
	one := int64(1)
	rc, err := rpchttp.New(n.RPCAddress())
	if err != nil {
		t.Fatal(err)
	}
	b1, err := rc.Block(ctx, &one)
	if err != nil {
		t.Fatal(err)
	}
	vt, err := NewVerifier(ctx, c, chainID, []string{rpc}, 1, b1.BlockID.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if acc, _, err := vt.Account(ctx, bob.Address()); err != nil || acc.Balance != 12345 {
		t.Fatalf("with an explicit trusted hash: %+v %v", acc, err)
	}
	// A wrong root of trust is refused up front.
	if _, err := NewVerifier(ctx, c, chainID, []string{rpc}, 1, bytes.Repeat([]byte{7}, 32)); err == nil {
		t.Error("light client accepted a wrong trusted hash")
	}
}
