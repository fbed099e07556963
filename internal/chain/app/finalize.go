package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// FinalizeBlock implements abci.Application: it executes the block's txs in
// order against staged state, pays the fees to the proposer and returns the
// new app hash. Nothing is persisted until Commit.
func (a *App) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// The first block may be at the genesis' initial height.
	if a.height != 0 && req.Height != a.height+1 {
		return nil, fmt.Errorf("FinalizeBlock at height %d after committed height %d: %w", req.Height, a.height, ErrState)
	}
	results := make([]*abci.ExecTxResult, len(req.Txs))
	var fees uint64 // bounded by the supply, so it cannot overflow
	for i, raw := range req.Txs {
		res, fee := a.deliver(raw, req.Height)
		results[i] = res
		fees += fee
	}
	endEvents := a.endBlock(req.Height, req.Hash)
	updates := a.stakingEndBlock(req.Height)
	if fees > 0 {
		if len(req.ProposerAddress) == wallet.AddressSize {
			// A validator's address and an account address are the same
			// derivation, so the validator's key controls this account.
			var p wallet.Address
			copy(p[:], req.ProposerAddress)
			acc := a.state.account(p)
			acc.Balance += fees
			a.state.setAccount(p, acc)
		} else {
			a.state.set(keyFeePool, encodeUint(a.state.uint(keyFeePool)+fees))
		}
	}
	a.finalHeight, a.finalHash = req.Height, a.state.hash()
	return &abci.FinalizeBlockResponse{TxResults: results, Events: endEvents, ValidatorUpdates: updates, AppHash: a.finalHash}, nil
}

// deliver executes one tx at height h against staged state and returns
// its result and the fee it paid. A tx that fails the envelope checks
// (decoding, chain, fee, signature, nonce, funds) changes nothing; once
// those pass, the fee is paid and the nonce used even if the message then
// fails, so a sender's later txs stay valid and failures are not free.
func (a *App) deliver(raw []byte, h int64) (*abci.ExecTxResult, uint64) {
	sum := sha256.Sum256(raw)
	tx, verified := a.verified.take(sum) // CheckTx decoded and verified it already
	if !verified {
		var code uint32
		var err error
		if tx, code, err = DecodeTx(raw); code != CodeOK {
			return &abci.ExecTxResult{Code: code, Codespace: Codespace, Log: err.Error()}, 0
		}
	}
	b := &tx.Body
	from := b.Sender()
	acc := a.state.account(from)
	if code, msg := a.validate(tx, !verified, acc.Nonce, acc.Balance, a.state.get); code != CodeOK {
		return &abci.ExecTxResult{Code: code, Codespace: Codespace, Log: msg}, 0
	}
	acc.Balance -= b.Fee
	acc.Nonce++
	a.state.setAccount(from, acc)
	code, log, events := a.execMsg(tx, sum[:], h)
	if code != CodeOK {
		return &abci.ExecTxResult{Code: code, Codespace: Codespace, Log: log}, b.Fee
	}
	return &abci.ExecTxResult{Code: CodeOK, Events: events}, b.Fee
}

func uitoa(v uint64) string { return strconv.FormatUint(v, 10) }

// Commit implements abci.Application: it persists the staged state of the
// last FinalizeBlock and resets the mempool's view.
func (a *App) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finalHeight == 0 || a.finalHeight <= a.height {
		return nil, fmt.Errorf("Commit without FinalizeBlock after height %d: %w", a.height, ErrState)
	}
	changes := a.state.commit()
	if err := a.store.Commit(changes, a.finalHeight, a.finalHash); err != nil {
		return nil, err // the node must halt: state on disk is behind
	}
	a.height, a.appHash = a.finalHeight, a.finalHash
	a.check = map[wallet.Address]pending{}
	return &abci.CommitResponse{}, nil
}
