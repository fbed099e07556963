package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

const testChainID = "vimana-test-1"

var ctx = context.Background()

func seededKey(t testing.TB, b byte) *wallet.Key {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = b
	}
	k, err := wallet.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fixture struct {
	alice, bob, proposer *wallet.Key
}

func newFixture(t testing.TB) fixture {
	return fixture{alice: seededKey(t, 1), bob: seededKey(t, 2), proposer: seededKey(t, 3)}
}

func (f fixture) genesis(t testing.TB) []byte {
	g := Genesis{MinFee: 10, Balances: []GenesisBalance{
		{Address: f.alice.Address(), Amount: 1_000_000},
		{Address: f.bob.Address(), Amount: 500},
	}}
	raw, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func initApp(t testing.TB, a *App, f fixture) {
	t.Helper()
	if _, err := a.InitChain(ctx, &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: f.genesis(t)}); err != nil {
		t.Fatal(err)
	}
}

// runBlock finalizes and commits one block, then checks the supply invariant.
func runBlock(t testing.TB, a *App, proposer []byte, txs ...[]byte) *abci.FinalizeBlockResponse {
	t.Helper()
	a.mu.Lock()
	h := a.height + 1
	a.mu.Unlock()
	res, err := a.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: h, Txs: txs, ProposerAddress: proposer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, &abci.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	checkSupply(t, a)
	return res
}

// checkSupply asserts that balances plus the fee pool equal the supply.
func checkSupply(t testing.TB, a *App) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var sum uint64
	for k, v := range a.state.base {
		if strings.HasPrefix(k, prefixAccount) {
			sum += decodeAccount(v).Balance
		}
	}
	sum += decodeUint(a.state.base[keyFeePool])
	sum += market.Reader{KV: committedKV{a}}.Held()
	sum += decodeUint(a.state.base[keyStakeHeld])
	if supply := decodeUint(a.state.base[keySupply]); sum != supply {
		t.Fatalf("balances sum to %d, supply is %d", sum, supply)
	}
}

func account(t testing.TB, a *App, addr wallet.Address) Account {
	t.Helper()
	res, err := a.Query(ctx, &abci.QueryRequest{Path: QueryAccount, Data: []byte(addr.String())})
	if err != nil || res.Code != CodeOK {
		t.Fatalf("query %s: %v %v", addr, res, err)
	}
	var acc Account
	if err := json.Unmarshal(res.Value, &acc); err != nil {
		t.Fatal(err)
	}
	return acc
}

func checkTx(t testing.TB, a *App, raw []byte) uint32 {
	t.Helper()
	res, err := a.CheckTx(ctx, &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK})
	if err != nil {
		t.Fatal(err)
	}
	return res.Code
}
