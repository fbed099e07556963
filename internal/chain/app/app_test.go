package app

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

func TestTransfer(t *testing.T) {
	f := newFixture(t)
	a := NewInMemory()
	initApp(t, a, f)
	prop := f.proposer.Address()
	runBlock(t, a, prop[:]) // empty block 1 persists genesis

	tx := NewTransfer(f.alice, testChainID, f.bob.Address(), 1000, 10, 0).Encode()
	if code := checkTx(t, a, tx); code != CodeOK {
		t.Fatalf("CheckTx code %d", code)
	}
	res := runBlock(t, a, prop[:], tx)
	if c := res.TxResults[0].Code; c != CodeOK {
		t.Fatalf("FinalizeBlock code %d: %s", c, res.TxResults[0].Log)
	}
	if got := account(t, a, f.alice.Address()); got != (Account{Balance: 1_000_000 - 1010, Nonce: 1}) {
		t.Fatalf("alice = %+v", got)
	}
	if got := account(t, a, f.bob.Address()); got != (Account{Balance: 1500}) {
		t.Fatalf("bob = %+v", got)
	}
	if got := account(t, a, prop); got != (Account{Balance: 10}) {
		t.Fatalf("proposer = %+v", got)
	}
	// Self-transfer costs only the fee.
	self := NewTransfer(f.bob, testChainID, f.bob.Address(), 100, 10, 0).Encode()
	if c := runBlock(t, a, prop[:], self).TxResults[0].Code; c != CodeOK {
		t.Fatalf("self-transfer code %d", c)
	}
	if got := account(t, a, f.bob.Address()); got != (Account{Balance: 1490, Nonce: 1}) {
		t.Fatalf("bob after self-transfer = %+v", got)
	}
	// Fees of a block without a 20-byte proposer go to the pool.
	tx2 := NewTransfer(f.alice, testChainID, f.bob.Address(), 1, 10, 1).Encode()
	runBlock(t, a, nil, tx2)
	if got := account(t, a, prop); got.Balance != 20 {
		t.Fatalf("proposer = %+v", got)
	}
}

func TestRejected(t *testing.T) {
	f := newFixture(t)
	bob := f.bob.Address()
	valid := NewTransfer(f.alice, testChainID, bob, 1, 10, 0)
	badSig := NewTransfer(f.alice, testChainID, bob, 1, 10, 0)
	badSig.Signature[0] ^= 1
	forged := NewTransfer(f.alice, testChainID, bob, 900_000, 10, 0)
	forged.Signature = valid.Signature // signed over amount 1
	enc := valid.Encode()
	cases := []struct {
		name string
		tx   []byte
		code uint32
	}{
		{"insufficient funds", NewTransfer(f.bob, testChainID, f.alice.Address(), 491, 10, 0).Encode(), CodeInsufficientFunds},
		{"bad signature", badSig.Encode(), CodeBadSignature},
		{"forged amount", forged.Encode(), CodeBadSignature},
		{"signed by another key", func() []byte {
			tx := NewTransfer(f.bob, testChainID, bob, 1, 10, 0)
			tx.Body.From = f.alice.PubKey()
			return tx.Encode()
		}(), CodeBadSignature},
		{"future nonce", NewTransfer(f.alice, testChainID, bob, 1, 10, 5).Encode(), CodeBadNonce},
		{"wrong chain id", NewTransfer(f.alice, "other-chain", bob, 1, 10, 0).Encode(), CodeWrongChain},
		{"fee too low", NewTransfer(f.alice, testChainID, bob, 1, 9, 0).Encode(), CodeFeeTooLow},
		{"zero amount", NewTransfer(f.alice, testChainID, bob, 0, 10, 0).Encode(), CodeInvalid},
		{"overflow", NewTransfer(f.alice, testChainID, bob, ^uint64(0), 10, 0).Encode(), CodeInvalid},
		{"oversized", append(enc, bytes.Repeat([]byte(" "), MaxTxBytes)...), CodeTooLarge},
		{"unknown field", bytes.Replace(enc, []byte(`{"body":`), []byte(`{"memo":"x","body":`), 1), CodeDecode},
		{"unknown body field", bytes.Replace(enc, []byte(`"nonce":0`), []byte(`"nonce":0,"gas":1`), 1), CodeDecode},
		{"non-canonical whitespace", bytes.Replace(enc, []byte(`{"body":`), []byte(`{ "body":`), 1), CodeDecode},
		{"non-canonical case", bytes.Replace(enc, []byte(`"amount"`), []byte(`"Amount"`), 1), CodeDecode},
		{"duplicate field", bytes.Replace(enc, []byte(`"nonce":0`), []byte(`"nonce":0,"nonce":0`), 1), CodeDecode},
		{"trailing data", append(append([]byte{}, enc...), `{}`...), CodeDecode},
		{"upper-case address", bytes.Replace(enc, []byte(bob.String()), []byte(strings.ToUpper(bob.String())), 1), CodeDecode},
		{"float amount", bytes.Replace(enc, []byte(`"amount":1`), []byte(`"amount":1.0`), 1), CodeDecode},
		{"negative fee", bytes.Replace(enc, []byte(`"fee":10`), []byte(`"fee":-10`), 1), CodeDecode},
		{"short key", bytes.Replace(valid.Encode(), []byte(`"from":"`), []byte(`"from":"AAAA`), 1), CodeDecode},
		{"not json", []byte("\x00\x01"), CodeDecode},
		{"empty", nil, CodeDecode},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewInMemory()
			initApp(t, a, f)
			runBlock(t, a, nil)
			if got := checkTx(t, a, c.tx); got != c.code {
				t.Fatalf("CheckTx code %d, want %d", got, c.code)
			}
			before := a.appHash
			res := runBlock(t, a, nil, c.tx)
			if got := res.TxResults[0].Code; got != c.code {
				t.Fatalf("FinalizeBlock code %d, want %d (%s)", got, c.code, res.TxResults[0].Log)
			}
			if !bytes.Equal(a.appHash, before) {
				t.Fatal("a refused tx changed state")
			}
		})
	}
}

func TestReplay(t *testing.T) {
	f := newFixture(t)
	a := NewInMemory()
	initApp(t, a, f)
	tx := NewTransfer(f.alice, testChainID, f.bob.Address(), 5, 10, 0).Encode()
	if c := runBlock(t, a, nil, tx, tx).TxResults; c[0].Code != CodeOK || c[1].Code != CodeBadNonce {
		t.Fatalf("same block: codes %d, %d", c[0].Code, c[1].Code)
	}
	if c := checkTx(t, a, tx); c != CodeBadNonce {
		t.Fatalf("CheckTx replay code %d", c)
	}
	if c := runBlock(t, a, nil, tx).TxResults[0].Code; c != CodeBadNonce {
		t.Fatalf("later block: code %d", c)
	}
	if got := account(t, a, f.bob.Address()); got.Balance != 505 {
		t.Fatalf("bob = %+v", got)
	}
}

func TestCheckTxMempoolNonces(t *testing.T) {
	f := newFixture(t)
	a := NewInMemory()
	initApp(t, a, f)
	runBlock(t, a, nil)
	to := f.bob.Address()
	tx0 := NewTransfer(f.alice, testChainID, to, 1, 10, 0).Encode()
	tx1 := NewTransfer(f.alice, testChainID, to, 1, 10, 1).Encode()
	tx3 := NewTransfer(f.alice, testChainID, to, 1, 10, 3).Encode()
	for _, c := range []struct {
		tx   []byte
		want uint32
	}{{tx0, CodeOK}, {tx1, CodeOK}, {tx0, CodeBadNonce}, {tx3, CodeBadNonce}} {
		if got := checkTx(t, a, c.tx); got != c.want {
			t.Fatalf("CheckTx code %d, want %d", got, c.want)
		}
	}
	// Bob's pending spending counts against his balance.
	b0 := NewTransfer(f.bob, testChainID, f.alice.Address(), 300, 10, 0).Encode()
	b1 := NewTransfer(f.bob, testChainID, f.alice.Address(), 300, 10, 1).Encode()
	if checkTx(t, a, b0) != CodeOK || checkTx(t, a, b1) != CodeInsufficientFunds {
		t.Fatal("pending spending not counted")
	}
	// Only tx0 makes it into the block; the mempool rechecks tx1.
	runBlock(t, a, nil, tx0)
	res, err := a.CheckTx(ctx, &abci.CheckTxRequest{Tx: tx1, Type: abci.CHECK_TX_TYPE_RECHECK})
	if err != nil || res.Code != CodeOK {
		t.Fatalf("recheck: %v %v", res, err)
	}
}

// Two apps (one in memory, one on disk) fed the same blocks agree on every
// app hash, and the disk one resumes after a restart.
func TestDeterministicAppHash(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(t.TempDir(), "app.db")
	store, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := New(store)
	if err != nil {
		t.Fatal(err)
	}
	mem := NewInMemory()
	initApp(t, mem, f)
	initApp(t, disk, f)
	prop := f.proposer.Address()
	var blocks [][][]byte
	for i := uint64(0); i < 20; i++ {
		blocks = append(blocks, [][]byte{
			NewTransfer(f.alice, testChainID, f.bob.Address(), 100+i, 10+i, i).Encode(),
			NewTransfer(f.bob, testChainID, f.proposer.Address(), 50, 10, i).Encode(),
			NewTransfer(f.alice, testChainID, f.bob.Address(), 1, 10, i).Encode(), // bad nonce
		})
	}
	run := func(a *App, from int) {
		for _, txs := range blocks[from:] {
			runBlock(t, a, prop[:], txs...)
		}
	}
	run(mem, 0)
	run(disk, 0)
	if !bytes.Equal(mem.appHash, disk.appHash) || mem.height != disk.height {
		t.Fatalf("apps diverged: %x@%d vs %x@%d", mem.appHash, mem.height, disk.appHash, disk.height)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store2, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	reopened, err := New(store2)
	if err != nil {
		t.Fatal(err)
	}
	info, err := reopened.Info(ctx, &abci.InfoRequest{})
	if err != nil || info.LastBlockHeight != 20 || !bytes.Equal(info.LastBlockAppHash, mem.appHash) {
		t.Fatalf("reopened Info = %+v, %v", info, err)
	}
	extra := NewTransfer(f.alice, testChainID, f.bob.Address(), 7, 10, 20).Encode()
	runBlock(t, mem, prop[:], extra)
	runBlock(t, reopened, prop[:], extra)
	if !bytes.Equal(mem.appHash, reopened.appHash) {
		t.Fatal("reopened app diverged")
	}
}

func TestGenesisRejects(t *testing.T) {
	f := newFixture(t)
	addr := f.alice.Address().String()
	for name, raw := range map[string]string{
		"unknown field": `{"min_fee":1,"balances":[],"inflation":1}`,
		"duplicate":     `{"balances":[{"address":"` + addr + `","amount":1},{"address":"` + addr + `","amount":1}]}`,
		"overflow":      `{"balances":[{"address":"` + addr + `","amount":18446744073709551615},{"address":"` + f.bob.Address().String() + `","amount":1}]}`,
		"bad address":   `{"balances":[{"address":"vis1xyz","amount":1}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewInMemory().InitChain(ctx, &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: []byte(raw)})
			if err == nil {
				t.Fatal("genesis accepted")
			}
		})
	}
}

func TestOutOfOrderCalls(t *testing.T) {
	f := newFixture(t)
	a := NewInMemory()
	initApp(t, a, f)
	if _, err := a.Commit(ctx, &abci.CommitRequest{}); !errors.Is(err, ErrState) {
		t.Fatalf("Commit before FinalizeBlock: %v", err)
	}
	runBlock(t, a, nil)
	if _, err := a.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: 5}); !errors.Is(err, ErrState) {
		t.Fatalf("FinalizeBlock skipping heights: %v", err)
	}
	if _, err := a.InitChain(ctx, &abci.InitChainRequest{ChainId: testChainID}); !errors.Is(err, ErrState) {
		t.Fatalf("InitChain after blocks: %v", err)
	}
}
