package app

import (
	"context"
	"encoding/json"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// Query paths.
const (
	QueryAccount = "/account" // data: bech32 address; value: Account as JSON
	QueryParams  = "/params"  // value: Params as JSON
)

// Params are the chain-wide parameters and totals.
type Params struct {
	ChainID string `json:"chain_id"`
	MinFee  uint64 `json:"min_fee"`
	Supply  uint64 `json:"supply"`
	FeePool uint64 `json:"fee_pool"`
}

// Query implements abci.Application. It answers from committed state only.
// Proofs are not implemented yet (docs/chain.md).
func (a *App) Query(_ context.Context, req *abci.QueryRequest) (*abci.QueryResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var v any
	switch req.Path {
	case QueryAccount:
		addr, err := wallet.ParseAddress(string(req.Data))
		if err != nil {
			return &abci.QueryResponse{Code: CodeDecode, Codespace: Codespace, Log: err.Error(), Height: a.height}, nil
		}
		v = decodeAccount(a.committed(accountKey(addr)))
	case QueryParams:
		v = Params{
			ChainID: string(a.committed(keyChainID)), MinFee: decodeUint(a.committed(keyMinFee)),
			Supply: decodeUint(a.committed(keySupply)), FeePool: decodeUint(a.committed(keyFeePool)),
		}
	default:
		return &abci.QueryResponse{Code: CodeUnknownQuery, Codespace: Codespace, Log: "unknown path " + req.Path, Height: a.height}, nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &abci.QueryResponse{Code: CodeOK, Value: out, Height: a.height}, nil
}
