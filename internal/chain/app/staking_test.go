package app

import (
	"encoding/json"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

func TestStakingValidatorUpdates(t *testing.T) {
	f := newFixture(t)
	a := NewInMemory()
	genVal := seededKey(t, 50).PubKey()
	raw, _ := json.Marshal(Genesis{MinFee: 10, UnbondingBlocks: 3, Balances: []GenesisBalance{{Address: f.alice.Address(), Amount: 10_000_000}}})
	if _, err := a.InitChain(ctx, &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: raw,
		Validators: []abci.ValidatorUpdate{abci.NewValidatorUpdate(ed25519PubKey(genVal), 10)}}); err != nil {
		t.Fatal(err)
	}
	runBlock(t, a, nil)
	newVal := seededKey(t, 51).PubKey()
	// Stake 2.5 VIS to a new validator: power 2 appears in the block's updates.
	res := runBlock(t, a, nil, NewTx(f.alice, testChainID, TxTypeStake, &Stake{Validator: newVal, Amount: 2_500_000}, 10, 0).Encode())
	if res.TxResults[0].Code != CodeOK || len(res.ValidatorUpdates) != 1 || res.ValidatorUpdates[0].Power != 2 {
		t.Fatalf("stake: %+v updates %+v", res.TxResults[0], res.ValidatorUpdates)
	}
	if acc := account(t, a, f.alice.Address()); acc.Balance != 10_000_000-2_500_000-10 {
		t.Fatalf("balance after stake: %d", acc.Balance)
	}
	// Only the bonder can unstake, and only what it bonded.
	res = runBlock(t, a, nil,
		NewTx(f.bob, testChainID, TxTypeUnstake, &Unstake{Validator: newVal, Amount: 1}, 10, 0).Encode(),
		NewTx(f.alice, testChainID, TxTypeUnstake, &Unstake{Validator: newVal, Amount: 9_000_000}, 10, 1).Encode())
	if res.TxResults[1].Code != CodeInsufficientFunds || len(res.ValidatorUpdates) != 0 {
		t.Fatalf("over-unstake: %+v %+v", res.TxResults, res.ValidatorUpdates)
	}
	// Unstake 2 VIS: power drops to 0 at once (removed), tokens return after unbonding.
	res = runBlock(t, a, nil, NewTx(f.alice, testChainID, TxTypeUnstake, &Unstake{Validator: newVal, Amount: 2_500_000}, 10, 2).Encode())
	if res.TxResults[0].Code != CodeOK || len(res.ValidatorUpdates) != 1 || res.ValidatorUpdates[0].Power != 0 {
		t.Fatalf("unstake: %+v %+v", res.TxResults[0], res.ValidatorUpdates)
	}
	before := account(t, a, f.alice.Address()).Balance
	for range 3 {
		runBlock(t, a, nil)
	}
	if got := account(t, a, f.alice.Address()).Balance; got != before+2_500_000 {
		t.Fatalf("after unbonding: %d, want %d", got, before+2_500_000)
	}
	// Validators query: the genesis validator keeps power 10.
	q, _ := a.Query(ctx, &abci.QueryRequest{Path: QueryValidators})
	var vals []ValidatorInfo
	json.Unmarshal(q.Value, &vals)
	found := false
	for _, v := range vals {
		found = found || (string(v.PubKey) == string(genVal) && v.Power == 10)
	}
	if !found {
		t.Fatalf("validators: %+v", vals)
	}
	// The last validator cannot be unstaked away... genesis stake has no bonder.
	res = runBlock(t, a, nil, NewTx(f.alice, testChainID, TxTypeUnstake, &Unstake{Validator: genVal, Amount: 1}, 10, 3).Encode())
	if res.TxResults[0].Code == CodeOK {
		t.Fatal("unstaked genesis stake nobody bonded")
	}
}
