package app

import (
	"bytes"
	"encoding/json"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// TestIndexPointerThroughABCI: storage.index through CheckTx and
// FinalizeBlock — a pointer with 16 KiB of metadata fits its size limit
// (a transfer of that size does not), a stale version is refused with
// code 12 and still pays its fee, the queries list and get the sender's
// pointers, removal clears them; supply is checked after every block.
func TestIndexPointerThroughABCI(t *testing.T) {
	a := NewInMemory()
	alice, bob := seededKey(t, 1), seededKey(t, 2)
	g := Genesis{MinFee: 10, Balances: []GenesisBalance{{Address: alice.Address(), Amount: 1_000_000}, {Address: bob.Address(), Amount: 1_000_000}}}
	raw, _ := json.Marshal(g)
	if _, err := a.InitChain(ctx, &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: raw}); err != nil {
		t.Fatal(err)
	}
	runBlock(t, a, nil)
	m := &marketFixture{a: a, nonce: map[wallet.Address]uint64{}}
	const name = "00112233445566778899aabbccddeeff00112233.bucket"
	big := m.tx(alice, market.TypeSetIndex, &market.SetIndex{Name: name, Version: 1, Object: bytes.Repeat([]byte{'{'}, market.MaxIndexObject)})
	if len(big) <= MaxTxBytes || len(big) > MaxIndexTxBytes {
		t.Fatalf("a pointer with %d bytes of metadata is a %d-byte tx", market.MaxIndexObject, len(big))
	}
	if c := checkTx(t, a, big); c != CodeOK {
		t.Fatalf("CheckTx of the largest pointer: %d", c)
	}
	mustOK(t, runBlock(t, a, nil, big, m.tx(bob, market.TypeSetIndex, &market.SetIndex{Name: name, Version: 7, Object: []byte("bob")})))

	res := runBlock(t, a, nil, m.tx(alice, market.TypeSetIndex, &market.SetIndex{Name: name, Version: 1, Object: []byte("stale")}))
	if res.TxResults[0].Code != market.CodeState {
		t.Fatalf("stale version: code %d %s", res.TxResults[0].Code, res.TxResults[0].Log)
	}
	mustOK(t, runBlock(t, a, nil, m.tx(alice, market.TypeSetIndex, &market.SetIndex{Name: name, Version: 2, Object: []byte("v2")})))
	var ps []market.IndexPointer
	m.query(t, QueryIndex, alice.Address().String(), &ps)
	if len(ps) != 1 || ps[0].Version != 2 || string(ps[0].Object) != "v2" {
		t.Fatalf("alice's pointers: %+v", ps)
	}
	var p market.IndexPointer
	m.query(t, QueryIndex, bob.Address().String()+"/"+name, &p)
	if p.Version != 7 || string(p.Object) != "bob" {
		t.Fatalf("bob's pointer: %+v", p)
	}
	mustOK(t, runBlock(t, a, nil, m.tx(alice, market.TypeSetIndex, &market.SetIndex{Name: name, Version: 2})))
	if r, _ := a.Query(ctx, &abci.QueryRequest{Path: QueryIndex, Data: []byte(alice.Address().String() + "/" + name)}); r.Code != CodeNotFound {
		t.Fatalf("removed pointer: code %d", r.Code)
	}
	m.query(t, QueryIndex, alice.Address().String(), &ps)
	if len(ps) != 0 {
		t.Fatalf("alice's pointers after removal: %+v", ps)
	}
}
