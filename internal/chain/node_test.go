package chain

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// freeAddr returns a tcp:// address on 127.0.0.1 with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

// eventually polls f until it returns true; the deadline only bounds a hung
// test, it asserts nothing about speed.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNodeTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	alice, _ := wallet.Generate(nil)
	bob, _ := wallet.Generate(nil)
	const chainID = "vimana-node-test"
	ctx := context.Background()
	n, err := Start(ctx, Config{
		Home:      filepath.Join(t.TempDir(), "home"),
		ChainID:   chainID,
		Genesis:   app.Genesis{MinFee: 10, Balances: []app.GenesisBalance{{Address: alice.Address(), Amount: 1_000_000}}},
		RPCListen: freeAddr(t),
		P2PListen: freeAddr(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			n.Stop()
		}
	})
	c, err := rpchttp.New(n.RPCAddress())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "block 2", func() bool {
		st, err := c.Status(ctx)
		return err == nil && st.SyncInfo.LatestBlockHeight >= 2
	})

	tx := app.NewTransfer(alice, chainID, bob.Address(), 12345, 10, 0).Encode()
	res, err := c.BroadcastTxSync(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != app.CodeOK {
		t.Fatalf("broadcast_tx_sync code %d: %s", res.Code, res.Log)
	}
	bad := app.NewTransfer(alice, "other-chain", bob.Address(), 1, 10, 1).Encode()
	// CometBFT v1 reports a CheckTx refusal as an RPC error carrying the code.
	if res, err := c.BroadcastTxSync(ctx, bad); err == nil || !strings.Contains(err.Error(), "code=3") {
		t.Fatalf("wrong-chain tx accepted: %+v, %v", res, err)
	}

	var acc app.Account
	eventually(t, "bob's balance", func() bool {
		q, err := c.ABCIQuery(ctx, app.QueryAccount, []byte(bob.Address().String()))
		if err != nil || q.Response.Code != app.CodeOK {
			return false
		}
		return json.Unmarshal(q.Response.Value, &acc) == nil && acc.Balance != 0
	})
	if acc.Balance != 12345 {
		t.Fatalf("bob's balance %d, want 12345", acc.Balance)
	}
	stopped = true
	if err := n.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
