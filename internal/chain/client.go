package chain

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Client talks to a node through CometBFT's standard RPC (URI over HTTP),
// so any CometBFT tool sees the same chain.
type Client struct {
	RPC  string // e.g. http://127.0.0.1:26657
	HTTP *http.Client
}

func (c *Client) get(ctx context.Context, method string, params url.Values, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	u := strings.TrimRight(c.RPC, "/") + "/" + method + "?" + params.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("chain rpc %s: %w", c.RPC, err)
	}
	defer resp.Body.Close()
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("chain rpc %s: %w", method, err)
	}
	if env.Error != nil {
		return fmt.Errorf("chain rpc %s: %s %s", method, env.Error.Message, env.Error.Data)
	}
	return json.Unmarshal(env.Result, out)
}

func (c *Client) query(ctx context.Context, path string, data []byte, out any) error {
	var r struct {
		Response struct {
			Code  uint32 `json:"code"`
			Log   string `json:"log"`
			Value string `json:"value"` // base64
		} `json:"response"`
	}
	p := url.Values{"path": {`"` + path + `"`}, "data": {"0x" + hex.EncodeToString(data)}}
	if err := c.get(ctx, "abci_query", p, &r); err != nil {
		return err
	}
	if r.Response.Code == app.CodeNotFound {
		return fmt.Errorf("%w: query %s: %s", ErrNotFound, path, r.Response.Log)
	}
	if r.Response.Code != app.CodeOK {
		return fmt.Errorf("query %s: code %d: %s", path, r.Response.Code, r.Response.Log)
	}
	raw, err := base64.StdEncoding.DecodeString(r.Response.Value)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// Account returns an account's committed balance and nonce.
func (c *Client) Account(ctx context.Context, a wallet.Address) (app.Account, error) {
	var acc app.Account
	err := c.query(ctx, app.QueryAccount, []byte(a.String()), &acc)
	return acc, err
}

// Params returns the chain id, min fee and totals.
func (c *Client) Params(ctx context.Context) (app.Params, error) {
	var p app.Params
	err := c.query(ctx, app.QueryParams, nil, &p)
	return p, err
}

// BroadcastResult is CheckTx's verdict on a submitted transaction.
type BroadcastResult struct {
	Code uint32 `json:"code"`
	Log  string `json:"log"`
	Hash string `json:"hash"`
}

// Broadcast submits a transaction and returns once CheckTx has judged it
// (CometBFT's broadcast_tx_sync); a non-zero Code is a refusal.
func (c *Client) Broadcast(ctx context.Context, tx []byte) (BroadcastResult, error) {
	var r BroadcastResult
	err := c.get(ctx, "broadcast_tx_sync", url.Values{"tx": {"0x" + hex.EncodeToString(tx)}}, &r)
	return r, err
}

// Transfer signs and submits a transfer from k, using k's committed nonce.
func (c *Client) Transfer(ctx context.Context, k *wallet.Key, to wallet.Address, amount, fee uint64) (BroadcastResult, error) {
	p, err := c.Params(ctx)
	if err != nil {
		return BroadcastResult{}, err
	}
	acc, err := c.Account(ctx, k.Address())
	if err != nil {
		return BroadcastResult{}, err
	}
	if fee < p.MinFee {
		fee = p.MinFee
	}
	return c.Broadcast(ctx, app.NewTransfer(k, p.ChainID, to, amount, fee, acc.Nonce).Encode())
}
