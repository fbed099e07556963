package app

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	bolt "go.etcd.io/bbolt"

	"github.com/vistara-labs/vimana/internal/chain/state"
)

// transfers returns block i's txs: a few transfers between the fixture's
// accounts and to fresh ones, so keys are created as well as updated.
func transfers(t testing.TB, f fixture, i uint64) [][]byte {
	fresh := seededKey(t, byte(100+i%50)).Address()
	return [][]byte{
		NewTransfer(f.alice, testChainID, f.bob.Address(), 100+i, 10, i).Encode(),
		NewTransfer(f.alice, testChainID, fresh, 1, 10, i).Encode(), // bad nonce after the first
	}
}

// The incrementally maintained tree always equals the tree built from
// scratch over all committed state.
func TestIncrementalHashMatchesRebuild(t *testing.T) {
	f := newFixture(t)
	a := NewInMemory()
	initApp(t, a, f)
	prop := f.proposer.Address()
	for i := range uint64(30) {
		runBlock(t, a, prop[:], transfers(t, f, i)...)
		a.mu.Lock()
		rebuilt := state.Build(a.state.base).Root()
		got := a.appHash
		a.mu.Unlock()
		if !bytes.Equal(got, rebuilt) {
			t.Fatalf("block %d: app hash %x, rebuilt %x", i+1, got, rebuilt)
		}
	}
}

// A state file whose values no longer hash to its stored app hash stops
// the app at start instead of forking the node.
func TestDamagedStateRefused(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(t.TempDir(), "app.db")
	store, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(store)
	if err != nil {
		t.Fatal(err)
	}
	initApp(t, a, f)
	runBlock(t, a, nil)
	store.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Put([]byte(accountKey(f.bob.Address())), encodeAccount(Account{Balance: 1 << 40}))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	store, err = OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := New(store); !errors.Is(err, ErrState) {
		t.Fatalf("damaged state: %v, want ErrState", err)
	}
}

func TestQueryProofs(t *testing.T) {
	f := newFixture(t)
	a := NewInMemory()
	initApp(t, a, f)
	runBlock(t, a, nil)
	runBlock(t, a, nil, NewTransfer(f.alice, testChainID, f.bob.Address(), 1000, 10, 0).Encode())
	root := a.appHash
	query := func(path string, data []byte) *abci.QueryResponse {
		t.Helper()
		res, err := a.Query(ctx, &abci.QueryRequest{Path: path, Data: data, Prove: true})
		if err != nil || res.Code != CodeOK || res.ProofOps == nil {
			t.Fatalf("query %s: %+v %v", path, res, err)
		}
		return res
	}
	// Present: the raw value verifies, anything else does not.
	alice := f.alice.Address()
	res := query(QueryKey, AccountKey(alice[:]))
	if got := DecodeAccount(res.Value); got != (Account{Balance: 1_000_000 - 1010, Nonce: 1}) {
		t.Fatalf("alice = %+v", got)
	}
	if err := VerifyKey(res.ProofOps, root, res.Key, res.Value, true); err != nil {
		t.Fatalf("valid proof refused: %v", err)
	}
	forged := bytes.Clone(res.Value)
	forged[7] ^= 1
	if VerifyKey(res.ProofOps, root, res.Key, forged, true) == nil {
		t.Error("forged balance verified")
	}
	if VerifyKey(res.ProofOps, root, res.Key, nil, false) == nil {
		t.Error("existence proof verified as absence")
	}
	// Absent: provably so, and not provably present.
	nobody := seededKey(t, 77).Address()
	res2 := query(QueryKey, AccountKey(nobody[:]))
	if len(res2.Value) != 0 {
		t.Fatalf("absent account has value %x", res2.Value)
	}
	if err := VerifyKey(res2.ProofOps, root, res2.Key, nil, false); err != nil {
		t.Fatalf("absence proof refused: %v", err)
	}
	if VerifyKey(res2.ProofOps, root, res2.Key, res.Value, true) == nil {
		t.Error("absence proof verified as existence")
	}
	// A proof for one key does not prove another.
	if VerifyKey(res.ProofOps, root, res2.Key, res.Value, true) == nil {
		t.Error("alice's proof verified for another key")
	}
	// /account carries the proof of its raw state value.
	res3 := query(QueryAccount, []byte(alice.String()))
	if !bytes.Equal(res3.Key, res.Key) || VerifyKey(res3.ProofOps, root, res3.Key, res.Value, true) != nil {
		t.Fatalf("/account proof: key %x", res3.Key)
	}
	// Only the latest height is served.
	if r, _ := a.Query(ctx, &abci.QueryRequest{Path: QueryKey, Data: res.Key, Height: a.height - 1}); r.Code == CodeOK {
		t.Error("historical query answered")
	}
}
