package chain

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/light"
	lightdb "github.com/cometbft/cometbft/light/store/db"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Verifier answers queries whose results it proves: the app's Merkle proof
// is checked against the app hash in a header that CometBFT's light client
// verified (validator signatures from a trusted starting header on).
type Verifier struct {
	C  *Client
	LC *light.Client
}

// NewVerifier starts a light client on c's node with witnesses (other
// nodes' RPC URLs; at least one). Without trustHash it trusts the header at
// trustHeight as served by the primary on first use.
func NewVerifier(ctx context.Context, c *Client, chainID string, witnesses []string, trustHeight int64, trustHash []byte) (*Verifier, error) {
	if len(witnesses) == 0 {
		return nil, fmt.Errorf("light client: needs at least one witness node (another node's RPC URL)")
	}
	if trustHeight <= 0 {
		trustHeight = 1
	}
	if trustHash == nil {
		var b struct {
			BlockID struct {
				Hash string `json:"hash"`
			} `json:"block_id"`
		}
		if err := c.get(ctx, "block", url.Values{"height": {fmt.Sprint(trustHeight)}}, &b); err != nil {
			return nil, fmt.Errorf("light client: trusted header: %w", err)
		}
		h, err := hex.DecodeString(b.BlockID.Hash)
		if err != nil || len(h) == 0 {
			return nil, fmt.Errorf("light client: trusted header hash %q", b.BlockID.Hash)
		}
		trustHash = h
	}
	lc, err := light.NewHTTPClient(ctx, chainID,
		light.TrustOptions{Period: 14 * 24 * time.Hour, Height: trustHeight, Hash: trustHash},
		c.RPC, witnesses, lightdb.New(dbm.NewMemDB(), chainID), light.Logger(cmtlog.NewNopLogger()))
	if err != nil {
		return nil, fmt.Errorf("light client: %w", err)
	}
	return &Verifier{C: c, LC: lc}, nil
}

// Proven is what a verified query rests on.
type Proven struct {
	Height  int64  `json:"height"`   // state height answered
	Header  int64  `json:"header"`   // verified header carrying its app hash
	AppHash string `json:"app_hash"` // hex
}

// Account returns an account's committed state, verified: the proof must
// lead to the app hash in the light-client-verified header of the next
// height. A forged value, proof or header is an error.
func (v *Verifier) Account(ctx context.Context, a wallet.Address) (app.Account, Proven, error) {
	var r struct {
		Response struct {
			Code     uint32 `json:"code"`
			Log      string `json:"log"`
			Value    string `json:"value"`
			Height   int64  `json:"height,string"`
			ProofOps *struct {
				Ops []struct {
					Type string `json:"type"`
					Key  string `json:"key"`
					Data string `json:"data"`
				} `json:"ops"`
			} `json:"proofOps"`
		} `json:"response"`
	}
	p := url.Values{"path": {`"` + app.QueryAccount + `"`}, "data": {"0x" + hex.EncodeToString([]byte(a.String()))}, "prove": {"true"}}
	if err := v.C.get(ctx, "abci_query", p, &r); err != nil {
		return app.Account{}, Proven{}, err
	}
	res := r.Response
	if res.Code != app.CodeOK {
		return app.Account{}, Proven{}, fmt.Errorf("query: code %d: %s", res.Code, res.Log)
	}
	if res.ProofOps == nil || len(res.ProofOps.Ops) != 1 || res.ProofOps.Ops[0].Type != app.ProofOpType {
		return app.Account{}, Proven{}, fmt.Errorf("query: the node sent no %s proof", app.ProofOpType)
	}
	raw, _ := base64.StdEncoding.DecodeString(res.ProofOps.Ops[0].Data)
	proof, err := app.DecodeProof(raw)
	if err != nil {
		return app.Account{}, Proven{}, fmt.Errorf("query: proof: %w", err)
	}
	var claimed app.Account
	val, _ := base64.StdEncoding.DecodeString(res.Value)
	if err := json.Unmarshal(val, &claimed); err != nil {
		return app.Account{}, Proven{}, fmt.Errorf("query: value: %w", err)
	}
	key := app.AccountKey(a[:])
	var stored []byte // nil: the proof must show absence
	if len(proof.Leaves) == 1 && string(proof.Leaves[0].Key) == string(key) {
		stored = proof.Leaves[0].Value
	}
	if app.DecodeAccount(stored) != claimed {
		return app.Account{}, Proven{}, fmt.Errorf("query: the value does not match the proved state")
	}
	// The app hash of height H is in header H+1: wait for it.
	var hdr *lightBlock
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		lb, err := v.LC.VerifyLightBlockAtHeight(ctx, res.Height+1, time.Now())
		if err == nil {
			hdr = &lightBlock{height: lb.Height, appHash: lb.AppHash}
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return app.Account{}, Proven{}, fmt.Errorf("light client: header %d: %w", res.Height+1, err)
		}
	}
	if err := app.VerifyProof(hdr.appHash, key, stored, proof); err != nil {
		return app.Account{}, Proven{}, err
	}
	return claimed, Proven{Height: res.Height, Header: hdr.height, AppHash: hex.EncodeToString(hdr.appHash)}, nil
}

type lightBlock struct {
	height  int64
	appHash []byte
}
