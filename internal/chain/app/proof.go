package app

import (
	"bytes"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"

	"github.com/vistara-labs/vimana/internal/chain/state"
)

// QueryKey reads one raw state key: data is the key, the value is the
// stored bytes (empty when absent; Key echoes the key). With Prove the
// response carries ProofOps proving the value, or the key's absence,
// against the app hash of the response's height, which is in the header
// of the next height.
const QueryKey = "/key"

// ProofOpType is the type of the ProofOps Query returns.
const ProofOpType = state.ProofOpType

// AccountKey is the state key of the account at addr (20 bytes), for
// QueryKey.
func AccountKey(addr []byte) []byte { return append([]byte(prefixAccount), addr...) }

// EncodeAccount is an account's stored value.
func EncodeAccount(acc Account) []byte { return encodeAccount(acc) }

// DecodeAccount decodes an account's stored value; an absent account
// (nil) is the zero Account.
func DecodeAccount(b []byte) Account { return decodeAccount(b) }

// VerifyKey checks a QueryKey answer: ops must prove that key holds value
// (exists) or is absent in the state whose app hash is appHash.
func VerifyKey(ops *cmtcrypto.ProofOps, appHash, key, value []byte, exists bool) error {
	return state.VerifyOps(ops, appHash, key, value, exists)
}

// queryKey answers QueryKey from committed state. Caller holds a.mu.
func (a *App) queryKey(req *abci.QueryRequest) *abci.QueryResponse {
	if req.Height != 0 && req.Height != a.height {
		// Only the latest committed state is kept.
		return &abci.QueryResponse{Code: CodeUnknownQuery, Codespace: Codespace, Height: a.height,
			Log: "state is kept for the latest height only; query height 0"}
	}
	key := bytes.Clone(req.Data)
	res := &abci.QueryResponse{Code: CodeOK, Key: key, Value: a.committed(string(key)), Height: a.height}
	if req.Prove {
		res.ProofOps = a.proofOps(key)
	}
	return res
}

// proofOps proves key against the committed app hash. Caller holds a.mu.
func (a *App) proofOps(key []byte) *cmtcrypto.ProofOps {
	op := state.ProofOp{Key: key, Proof: a.state.tree.Prove(key)}.ProofOp()
	return &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{op}}
}
