package chain

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// TestStakeUpdatesCometBFTValidators: a stake to a new consensus key makes
// CometBFT's own /validators list it with the stake's power, and blocks go
// on (the single original validator keeps more than 2/3).
func TestStakeUpdatesCometBFTValidators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a CometBFT node")
	}
	alice, _ := wallet.Generate(nil)
	const chainID = "vimana-stake-test"
	ctx := context.Background()
	n, err := Start(ctx, Config{
		Home: filepath.Join(t.TempDir(), "home"), ChainID: chainID,
		Genesis:   app.Genesis{MinFee: 10, Balances: []app.GenesisBalance{{Address: alice.Address(), Amount: 100_000_000}}},
		RPCListen: freeAddr(t), P2PListen: freeAddr(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	c := &Client{RPC: "http://" + strings.TrimPrefix(n.RPCAddress(), "tcp://")}
	eventually(t, "block 2", func() bool { h, err := c.Height(ctx); return err == nil && h >= 2 })
	newVal, _ := wallet.Generate(nil)
	s := &Signer{C: c, Key: alice}
	if _, _, err := s.SubmitAndWait(ctx, app.TxTypeStake, &app.Stake{Validator: newVal.PubKey(), Amount: 2 * app.PowerUnit}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var vals []Validator
	eventually(t, "the new validator in CometBFT's set", func() bool {
		vals, err = c.Validators(ctx)
		return err == nil && len(vals) == 2
	})
	var got int64
	for _, v := range vals {
		if v.PubKey == string(newVal.PubKey()) {
			got = v.Power
		}
	}
	if got != 2 {
		t.Fatalf("validators %+v: new one has power %d, want 2", vals, got)
	}
	h, _ := c.Height(ctx)
	eventually(t, "blocks after the update", func() bool { h2, err := c.Height(ctx); return err == nil && h2 > h+2 })
}
