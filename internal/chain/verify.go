package chain

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/light"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// ErrUnverified is the class of answers that fail verification: a proof
// that does not lead to the verified app hash, a value that does not match
// its proof, or a header the light client refused.
var ErrUnverified = errors.New("answer not verified")

// Verifier answers queries it proves: the app's Merkle proof must lead to
// the app hash in a header that CometBFT's light client verified
// (validator signatures, from a trusted header on, cross-checked with
// witness nodes).
type Verifier struct {
	C  *Client
	LC *light.Client
	// HeaderWait bounds the wait for the header after the answered height
	// (it carries that height's app hash); 0 means 30 s.
	HeaderWait time.Duration
}

// DefaultTrustPeriod is how long a verified header stays a valid root of
// trust for the light client.
const DefaultTrustPeriod = 14 * 24 * time.Hour

// NewVerifier starts a light client with c's node as primary and
// witnesses (other nodes' RPC URLs; at least one, which may be the
// primary itself on a one-node chain). It trusts the header at
// trustHeight with hash trustHash; without trustHash it takes that
// header's hash from the primary (trust on first use).
func NewVerifier(ctx context.Context, c *Client, chainID string, witnesses []string, trustHeight int64, trustHash []byte) (*Verifier, error) {
	if len(witnesses) == 0 {
		return nil, fmt.Errorf("light client: needs at least one witness node (an RPC URL): %w", app.ErrInvalid)
	}
	if trustHeight <= 0 {
		trustHeight = 1
	}
	if trustHash == nil {
		rc, err := c.rpc()
		if err != nil {
			return nil, err
		}
		b, err := rc.Block(ctx, &trustHeight)
		if err != nil {
			return nil, fmt.Errorf("light client: trusted header at %d: %w", trustHeight, err)
		}
		trustHash = b.BlockID.Hash
	}
	lc, err := light.NewHTTPClient(ctx, chainID,
		light.TrustOptions{Period: DefaultTrustPeriod, Height: trustHeight, Hash: trustHash},
		c.RPC, witnesses, lightdb.New(dbm.NewMemDB(), chainID), light.Logger(cmtlog.NewNopLogger()))
	if err != nil {
		return nil, fmt.Errorf("light client: %w", err)
	}
	return &Verifier{C: c, LC: lc}, nil
}

// Proven is what a verified answer rests on.
type Proven struct {
	Height  int64  `json:"height"`   // state height answered
	Header  int64  `json:"header"`   // light-client-verified header carrying that state's app hash
	AppHash string `json:"app_hash"` // hex
}

// Key reads one raw state key with its proof and verifies it: it returns
// the value (nil and exists=false when the key is provably absent).
func (v *Verifier) Key(ctx context.Context, key []byte) (value []byte, exists bool, pr Proven, err error) {
	rc, err := v.C.rpc()
	if err != nil {
		return nil, false, Proven{}, err
	}
	q, err := rc.ABCIQueryWithOptions(ctx, app.QueryKey, key, rpcclient.ABCIQueryOptions{Prove: true})
	if err != nil {
		return nil, false, Proven{}, fmt.Errorf("query: %w", err)
	}
	res := q.Response
	if res.Code != app.CodeOK {
		return nil, false, Proven{}, fmt.Errorf("query: code %d: %s", res.Code, res.Log)
	}
	if !bytes.Equal(res.Key, key) || res.Height <= 0 {
		return nil, false, Proven{}, fmt.Errorf("query: answer for key %x at height %d: %w", res.Key, res.Height, ErrUnverified)
	}
	// The app hash after height H is in the header of H+1.
	lb, err := v.header(ctx, res.Height+1)
	if err != nil {
		return nil, false, Proven{}, err
	}
	// The RPC shows an absent key and an empty value alike: an empty
	// answer must come with a proof of absence or of an empty value.
	exists = len(res.Value) > 0
	err = app.VerifyKey(res.ProofOps, lb.AppHash, key, res.Value, exists)
	if err != nil && !exists && app.VerifyKey(res.ProofOps, lb.AppHash, key, []byte{}, true) == nil {
		exists, err = true, nil
	}
	if err != nil {
		return nil, false, Proven{}, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	if !exists {
		res.Value = nil
	} else if res.Value == nil {
		res.Value = []byte{}
	}
	return res.Value, exists, Proven{Height: res.Height, Header: lb.Height, AppHash: hex.EncodeToString(lb.AppHash)}, nil
}

// Account returns an account's committed state, verified. An account
// that does not exist is provably absent and returned as the zero Account.
func (v *Verifier) Account(ctx context.Context, a wallet.Address) (app.Account, Proven, error) {
	val, _, pr, err := v.Key(ctx, app.AccountKey(a[:]))
	if err != nil {
		return app.Account{}, Proven{}, err
	}
	return app.DecodeAccount(val), pr, nil
}

type lightBlock struct {
	Height  int64
	AppHash []byte
}

// header waits (bounded by HeaderWait) until the chain has height h and
// returns its header as verified by the light client.
func (v *Verifier) header(ctx context.Context, h int64) (lightBlock, error) {
	wait := v.HeaderWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait) // client code, not consensus code
	rc, err := v.C.rpc()
	if err != nil {
		return lightBlock{}, err
	}
	// Asking the light client for a height the primary does not have yet
	// would count against the primary; wait for the block first.
	for {
		st, err := rc.Status(ctx)
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("the node is at height %d", st.SyncInfo.LatestBlockHeight)
			}
			return lightBlock{}, fmt.Errorf("light client: waiting for height %d: %v: %w", h, err, app.ErrState)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	lb, err := v.LC.VerifyLightBlockAtHeight(ctx, h, time.Now())
	if err != nil {
		return lightBlock{}, fmt.Errorf("light client: header %d: %w: %v", h, ErrUnverified, err)
	}
	return lightBlock{Height: lb.Height, AppHash: lb.AppHash}, nil
}

func (c *Client) rpc() (*rpchttp.HTTP, error) {
	rc, err := rpchttp.New(c.RPC)
	if err != nil {
		return nil, fmt.Errorf("chain rpc %s: %w", c.RPC, err)
	}
	return rc, nil
}
