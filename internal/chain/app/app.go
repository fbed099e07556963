package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// AppVersion is the version of the state machine's rules.
const AppVersion = 1

// App is the ABCI application. Its methods are safe for concurrent use;
// CometBFT's local client serialises them anyway.
type App struct {
	abci.BaseApplication

	mu      sync.Mutex
	store   Store
	state   *view
	height  int64  // last committed height
	appHash []byte // app hash at height

	// Results of the last FinalizeBlock, persisted by Commit.
	finalHeight int64
	finalHash   []byte

	// check tracks senders' pending nonces and spending of txs admitted to
	// the mempool since the last Commit, so CheckTx accepts a sender's
	// consecutive txs. Reset at Commit; CometBFT then rechecks the
	// remaining mempool txs in order, which rebuilds it.
	check map[wallet.Address]pending

	// powerChanged lists validators (consensus keys) whose stake changed
	// in the block being finalized.
	powerChanged map[string]bool

	restore *restore // state sync in progress (statesync.go)

	verified decodedTxs // txs CheckTx decoded and verified (sigcache.go)
}

type pending struct {
	nonce uint64 // next expected nonce
	spent uint64 // amount+fee of admitted txs
}

var _ abci.Application = (*App)(nil)

// New returns an app over store, resuming from its last committed block.
func New(store Store) (*App, error) {
	kv, height, appHash, err := store.Load()
	if err != nil {
		return nil, err
	}
	v, err := loadView(kv, height, appHash)
	if err != nil {
		return nil, err
	}
	return &App{store: store, state: v, height: height, appHash: appHash, check: map[wallet.Address]pending{}, powerChanged: map[string]bool{}}, nil
}

// NewInMemory returns an app with an in-memory store, for tests.
func NewInMemory() *App {
	a, err := New(NewMemStore())
	if err != nil {
		panic(err) // unreachable: MemStore.Load cannot fail
	}
	return a
}

// Info implements abci.Application.
func (a *App) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &abci.InfoResponse{
		Data: "vimana", Version: "1", AppVersion: AppVersion,
		LastBlockHeight: a.height, LastBlockAppHash: a.appHash,
	}, nil
}

// InitChain implements abci.Application: it stages the genesis state; the
// first Commit persists it with block 1.
func (a *App) InitChain(_ context.Context, req *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.height != 0 {
		return nil, fmt.Errorf("InitChain at height %d: %w", a.height, ErrState)
	}
	g, err := ParseGenesis(req.AppStateBytes)
	if err != nil {
		return nil, err
	}
	a.state.discard()
	if err := g.apply(a.state, req.ChainId); err != nil {
		a.state.discard()
		return nil, err
	}
	if err := initValidators(a.state, req.Validators); err != nil {
		a.state.discard()
		return nil, err
	}
	return &abci.InitChainResponse{AppHash: a.state.hash()}, nil
}

// CheckTx implements abci.Application. It is cheap: decode, signature (new
// txs only), and a comparison against committed state plus pending txs.
func (a *App) CheckTx(_ context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := sha256.Sum256(req.Tx)
	tx, known := a.verified.get(h)
	if !known {
		var code uint32
		var err error
		if tx, code, err = DecodeTx(req.Tx); code != CodeOK {
			return &abci.CheckTxResponse{Code: code, Codespace: Codespace, Log: err.Error()}, nil
		}
	}
	from := tx.Body.Sender()
	acc := decodeAccount(a.state.base[accountKey(from)])
	p, ok := a.check[from]
	if !ok {
		p = pending{nonce: acc.Nonce}
	}
	// Rechecked txs were verified when first admitted.
	verify := !known && req.Type != abci.CHECK_TX_TYPE_RECHECK
	code, msg := a.validate(tx, verify, p.nonce, acc.Balance-min(p.spent, acc.Balance), a.committed)
	if code != CodeOK {
		return &abci.CheckTxResponse{Code: code, Codespace: Codespace, Log: msg}, nil
	}
	if verify {
		a.verified.add(h, tx)
	}
	cost, _ := tx.Cost() // validate refused overflows
	a.check[from] = pending{nonce: p.nonce + 1, spent: p.spent + cost}
	return &abci.CheckTxResponse{Code: CodeOK}, nil
}

// validate checks tx against the chain parameters in kv and the sender's
// expected nonce and available balance; get reads state. It returns CodeOK or the reason.
func (a *App) validate(tx *Tx, verify bool, nonce, available uint64, get func(string) []byte) (uint32, string) {
	b := &tx.Body
	if chainID := string(get(keyChainID)); b.ChainID != chainID {
		return CodeWrongChain, fmt.Sprintf("chain_id %q, this chain is %q", b.ChainID, chainID)
	}
	if minFee := decodeUint(get(keyMinFee)); b.Fee < minFee {
		return CodeFeeTooLow, fmt.Sprintf("fee %d uvis below minimum %d", b.Fee, minFee)
	}
	if verify && !tx.VerifySignature() {
		return CodeBadSignature, "signature does not verify"
	}
	if b.Nonce != nonce {
		return CodeBadNonce, fmt.Sprintf("nonce %d, expected %d", b.Nonce, nonce)
	}
	total, ok := tx.Cost()
	if !ok {
		return CodeInvalid, "amount plus fee overflows"
	}
	if available < total {
		return CodeInsufficientFunds, fmt.Sprintf("need %d uvis, have %d", total, available)
	}
	return CodeOK, ""
}

// committed reads committed state, ignoring staged changes.
func (a *App) committed(k string) []byte { return a.state.base[k] }
