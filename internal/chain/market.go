package chain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// ErrRefused wraps a CheckTx refusal (see TxError).
var ErrRefused = errors.New("transaction refused")

// TxError is a transaction the chain refused, with its result code.
type TxError struct {
	Type string
	Code uint32
	Log  string
}

func (e *TxError) Error() string {
	return fmt.Sprintf("%s refused: code %d: %s", e.Type, e.Code, e.Log)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *TxError) Unwrap() error { return ErrRefused }

// Signer submits transactions for one key, tracking the next nonce
// locally so several transactions fit in one block; after a nonce
// refusal it resynchronises from committed state and retries once.
type Signer struct {
	C   *Client
	Key *wallet.Key
	Fee uint64 // 0: the chain's minimum fee

	mu      sync.Mutex
	chainID string
	minFee  uint64
	next    uint64
	synced  bool
}

// Submitted is an accepted transaction.
type Submitted struct {
	Hash []byte // sha256 of the encoded tx (CometBFT's tx hash)
	Raw  []byte
}

// Submit signs msg as a transaction of type typ and broadcasts it; it
// returns once CheckTx accepted it. A refusal is a *TxError.
func (s *Signer) Submit(ctx context.Context, typ string, msg app.Msg) (Submitted, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chainID == "" {
		p, err := s.C.Params(ctx)
		if err != nil {
			return Submitted{}, err
		}
		s.chainID, s.minFee = p.ChainID, p.MinFee
	}
	for attempt := 0; ; attempt++ {
		if !s.synced {
			acc, err := s.C.Account(ctx, s.Key.Address())
			if err != nil {
				return Submitted{}, err
			}
			s.next, s.synced = acc.Nonce, true
		}
		fee := max(s.Fee, s.minFee)
		raw := app.NewTx(s.Key, s.chainID, typ, msg, fee, s.next).Encode()
		res, err := s.C.Broadcast(ctx, raw)
		if err != nil {
			s.synced = false // unknown whether it reached the mempool
			if attempt == 0 {
				// CometBFT v1 reports a CheckTx refusal (a nonce another
				// client of this key used first) as an RPC error: resync
				// from committed state and try once more. A tx that did
				// reach the mempool is re-sent byte-identical and refused
				// as a duplicate.
				continue
			}
			return Submitted{}, err
		}
		if res.Code == app.CodeBadNonce && attempt == 0 {
			// Another client of the same key may have txs in the mempool:
			// take the nonce the node expects, else resync from state.
			if _, exp, ok := strings.Cut(res.Log, "expected "); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(exp), 10, 64); err == nil {
					s.next = n
					continue
				}
			}
			s.synced = false
			continue
		}
		if res.Code != app.CodeOK {
			return Submitted{}, &TxError{Type: typ, Code: res.Code, Log: res.Log}
		}
		s.next++
		h := sha256.Sum256(raw)
		return Submitted{Hash: h[:], Raw: raw}, nil
	}
}

// Resync forgets the local nonce (e.g. after the node restarted and
// dropped its mempool).
func (s *Signer) Resync() {
	s.mu.Lock()
	s.synced = false
	s.mu.Unlock()
}

// Order returns an order (lease) by ID.
func (c *Client) Order(ctx context.Context, id string) (market.Order, error) {
	var o market.Order
	err := c.query(ctx, app.QueryOrder, []byte(id), &o)
	return o, err
}

// Provider returns a provider's record.
func (c *Client) Provider(ctx context.Context, a wallet.Address) (market.Provider, error) {
	var p market.Provider
	err := c.query(ctx, app.QueryProvider, []byte(a.String()), &p)
	return p, err
}

// Providers lists every provider.
func (c *Client) Providers(ctx context.Context) ([]market.Provider, error) {
	var ps []market.Provider
	err := c.query(ctx, app.QueryProviders, nil, &ps)
	return ps, err
}

// OpenOrders lists orders waiting for a lease.
func (c *Client) OpenOrders(ctx context.Context) ([]market.Order, error) {
	var os []market.Order
	err := c.query(ctx, app.QueryOpen, nil, &os)
	return os, err
}

// Owned lists an owner's orders and leases, oldest first.
func (c *Client) Owned(ctx context.Context, a wallet.Address) ([]market.Order, error) {
	var os []market.Order
	err := c.query(ctx, app.QueryOwned, []byte(a.String()), &os)
	return os, err
}

// Leases lists the leases a provider serves.
func (c *Client) Leases(ctx context.Context, a wallet.Address) ([]market.Order, error) {
	var os []market.Order
	err := c.query(ctx, app.QueryLeases, []byte(a.String()), &os)
	return os, err
}

// MarketParams returns the market parameters.
func (c *Client) MarketParams(ctx context.Context) (market.Params, error) {
	var p market.Params
	err := c.query(ctx, app.QueryMarketParams, nil, &p)
	return p, err
}

// Height returns the latest committed height the node knows.
func (c *Client) Height(ctx context.Context) (int64, error) {
	var st struct {
		SyncInfo struct {
			LatestBlockHeight int64 `json:"latest_block_height,string"`
		} `json:"sync_info"`
	}
	if err := c.get(ctx, "status", nil, &st); err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// TxResult is how a committed transaction ended.
type TxResult struct {
	Height int64  `json:"height"`
	Code   uint32 `json:"code"`
	Log    string `json:"log"`
}

// WaitTx waits until the transaction with hash is in a block and returns
// its result (CometBFT's tx index must be on, as it is by default).
func (c *Client) WaitTx(ctx context.Context, hash []byte) (TxResult, error) {
	// Poll often for the first second (a block is usually a few hundred
	// ms away, and every caller waits on this), then every 100 ms.
	start := time.Now()
	for {
		var r struct {
			Height   int64 `json:"height,string"`
			TxResult struct {
				Code uint32 `json:"code"`
				Log  string `json:"log"`
			} `json:"tx_result"`
		}
		err := c.get(ctx, "tx", url.Values{"hash": {"0x" + hex.EncodeToString(hash)}}, &r)
		if err == nil {
			return TxResult{Height: r.Height, Code: r.TxResult.Code, Log: r.TxResult.Log}, nil
		}
		select {
		case <-ctx.Done():
			return TxResult{}, fmt.Errorf("transaction %X not committed: %w (last: %v)", hash, ctx.Err(), err)
		case <-time.After(waitTxPoll(time.Since(start))):
		}
	}
}

func waitTxPoll(waited time.Duration) time.Duration {
	if waited < time.Second {
		return 20 * time.Millisecond
	}
	return 100 * time.Millisecond
}

// SubmitAndWait submits msg and waits for its block; a message the block
// refused is a *TxError.
func (s *Signer) SubmitAndWait(ctx context.Context, typ string, msg app.Msg, timeout time.Duration) (Submitted, TxResult, error) {
	sub, err := s.Submit(ctx, typ, msg)
	if err != nil {
		return sub, TxResult{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.C.WaitTx(wctx, sub.Hash)
	if err != nil {
		return sub, res, err
	}
	if res.Code != app.CodeOK {
		return sub, res, &TxError{Type: typ, Code: res.Code, Log: res.Log}
	}
	return sub, res, nil
}

// Validator is an entry of CometBFT's validator set.
type Validator struct {
	Address string `json:"address"`
	PubKey  string `json:"-"` // raw ed25519 key bytes
	Power   int64  `json:"power"`
}

// Validators returns CometBFT's current validator set.
func (c *Client) Validators(ctx context.Context) ([]Validator, error) {
	var r struct {
		Validators []struct {
			Address string `json:"address"`
			PubKey  struct {
				Value []byte `json:"value"`
			} `json:"pub_key"`
			Power int64 `json:"voting_power,string"`
		} `json:"validators"`
	}
	if err := c.get(ctx, "validators", url.Values{"per_page": {"100"}}, &r); err != nil {
		return nil, err
	}
	out := make([]Validator, 0, len(r.Validators))
	for _, v := range r.Validators {
		out = append(out, Validator{Address: v.Address, PubKey: string(v.PubKey.Value), Power: v.Power})
	}
	return out, nil
}
