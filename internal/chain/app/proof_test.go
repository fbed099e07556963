package app

import (
	"bytes"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/wallet"
)

func proveAccount(t *testing.T, a *App, addr wallet.Address) (Proof, []byte) {
	t.Helper()
	res, err := a.Query(ctx, &abci.QueryRequest{Path: QueryAccount, Data: []byte(addr.String()), Prove: true})
	if err != nil || res.Code != CodeOK || res.ProofOps == nil || len(res.ProofOps.Ops) != 1 || res.ProofOps.Ops[0].Type != ProofOpType {
		t.Fatalf("query with proof: %+v %v", res, err)
	}
	p, err := DecodeProof(res.ProofOps.Ops[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	return p, res.ProofOps.Ops[0].Key
}

func TestAccountProofs(t *testing.T) {
	f := newFixture(t)
	a := NewInMemory()
	initApp(t, a, f)
	runBlock(t, a, nil, NewTransfer(f.alice, testChainID, f.bob.Address(), 1000, 10, 0).Encode())
	a.mu.Lock()
	root := a.appHash
	a.mu.Unlock()

	// Existence: alice's account, with its exact stored bytes.
	p, key := proveAccount(t, a, f.alice.Address())
	if len(p.Leaves) != 1 {
		t.Fatalf("existence proof has %d leaves", len(p.Leaves))
	}
	val := p.Leaves[0].Value
	if acc := DecodeAccount(val); acc.Nonce != 1 {
		t.Fatalf("proved account %+v", acc)
	}
	if err := VerifyProof(root, key, val, p); err != nil {
		t.Fatalf("valid proof refused: %v", err)
	}
	// Tampering anywhere is caught.
	forged := bytes.Clone(val)
	forged[7] ^= 1 // balance
	if VerifyProof(root, key, forged, p) == nil {
		t.Error("forged balance verified")
	}
	bad := p
	bad.Leaves = []ProofLeaf{p.Leaves[0]}
	bad.Leaves[0].Path = append([][]byte{}, p.Leaves[0].Path...)
	if len(bad.Leaves[0].Path) > 0 {
		bad.Leaves[0].Path[0] = bytes.Repeat([]byte{9}, 32)
		if VerifyProof(root, key, val, bad) == nil {
			t.Error("tampered path verified")
		}
	}
	if VerifyProof(bytes.Repeat([]byte{1}, 32), key, val, p) == nil {
		t.Error("proof verified against another root")
	}
	// Absence: a fresh address has no account, provably.
	nobody := seededKey(t, 77).Address()
	pa, key2 := proveAccount(t, a, nobody)
	if err := VerifyProof(root, key2, nil, pa); err != nil {
		t.Fatalf("absence proof refused: %v", err)
	}
	// An existence proof cannot be passed off as absence, nor the reverse.
	if VerifyProof(root, key, nil, p) == nil {
		t.Error("existence proof accepted as absence")
	}
	if VerifyProof(root, key2, val, pa) == nil {
		t.Error("absence proof accepted as existence")
	}
}
