package chain

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// TestVerifiedQuery: an account read through the light client verifies on
// an honest node, and a node that lies about the balance is caught even
// though its headers are genuine.
func TestVerifiedQuery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	alice, _ := wallet.Generate(nil)
	const chainID = "vimana-verify-test"
	ctx := context.Background()
	n, err := Start(ctx, Config{
		Home: filepath.Join(t.TempDir(), "home"), ChainID: chainID,
		Genesis:   app.Genesis{MinFee: 10, Balances: []app.GenesisBalance{{Address: alice.Address(), Amount: 1_000_000}}},
		RPCListen: freeAddr(t), P2PListen: freeAddr(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	rpc := "http://" + strings.TrimPrefix(n.RPCAddress(), "tcp://")
	honest := &Client{RPC: rpc}
	eventually(t, "block 3", func() bool { h, err := honest.Height(ctx); return err == nil && h >= 3 })

	v, err := NewVerifier(ctx, honest, chainID, []string{rpc}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	acc, pr, err := v.Account(ctx, alice.Address())
	if err != nil || acc.Balance != 1_000_000 || pr.Header != pr.Height+1 {
		t.Fatalf("honest node: %+v %+v %v", acc, pr, err)
	}
	ghost, _ := wallet.Generate(nil)
	if acc, _, err := v.Account(ctx, ghost.Address()); err != nil || acc.Balance != 0 {
		t.Fatalf("absent account: %+v %v", acc, err)
	}

	// A lying node: it doubles the balance in the value and in the proof.
	target, _ := url.Parse(rpc)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Request.URL.Path, "/abci_query") {
			return nil // headers and commits pass through untouched
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = forgeBalance(t, body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	liar := httptest.NewServer(proxy)
	defer liar.Close()
	lv, err := NewVerifier(ctx, &Client{RPC: liar.URL}, chainID, []string{rpc}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acc, _, err := lv.Account(ctx, alice.Address()); err == nil || !strings.Contains(err.Error(), "app hash") {
		t.Fatalf("forged answer: %+v %v, want a proof/app hash mismatch", acc, err)
	}
}

// forgeBalance rewrites an abci_query answer: value and proof leaf both
// claim 2,000,000 uvis, consistently, as a careful liar would.
func forgeBalance(t *testing.T, body []byte) []byte {
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		return body
	}
	res := env["result"].(map[string]any)["response"].(map[string]any)
	forged, _ := json.Marshal(app.Account{Balance: 2_000_000})
	res["value"] = base64.StdEncoding.EncodeToString(forged)
	ops := res["proofOps"].(map[string]any)["ops"].([]any)
	op := ops[0].(map[string]any)
	raw, _ := base64.StdEncoding.DecodeString(op["data"].(string))
	p, err := app.DecodeProof(raw)
	if err != nil || len(p.Leaves) != 1 {
		t.Fatalf("proof to forge: %v", err)
	}
	stored := bytes.Clone(p.Leaves[0].Value)
	stored[5] = 0x1e // 2,000,000 = 0x1e8480 in the big-endian balance
	stored[6], stored[7] = 0x84, 0x80
	p.Leaves[0].Value = stored
	op["data"] = base64.StdEncoding.EncodeToString(app.EncodeProof(p))
	out, _ := json.Marshal(env)
	return out
}
