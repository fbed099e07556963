package piecestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Client is a provider's piece store over HTTP: a storage.PieceStore the
// storage pipeline puts to and gets from. Uploads are signed by Key for
// Deal; each accepted piece's receipt is checked (signed by Provider, for
// this deal, piece and size) and kept.
type Client struct {
	Label    string         // Name(); defaults to URL
	URL      string         // node API base URL, e.g. http://127.0.0.1:7001
	Key      *wallet.Key    // the tenant's key (uploads)
	Deal     string         // the deal uploads are for
	Provider wallet.Address // expected receipt signer; zero: any
	HTTP     *http.Client

	mu       sync.Mutex
	receipts map[string]Receipt
}

var _ storage.PieceStore = (*Client)(nil)

// Name implements storage.PieceStore.
func (c *Client) Name() string {
	if c.Label != "" {
		return c.Label
	}
	return c.URL
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) url(id, rest string) string {
	return strings.TrimSuffix(c.URL, "/") + Prefix + "/" + id + rest
}

// Put implements storage.PieceStore.
func (c *Client) Put(ctx context.Context, id string, data []byte) error {
	_, err := c.PutReceipt(ctx, id, data)
	return err
}

// PutReceipt uploads a piece and returns the provider's verified receipt.
func (c *Client) PutReceipt(ctx context.Context, id string, data []byte) (Receipt, error) {
	if err := ParseID(id); err != nil {
		return Receipt{}, err
	}
	if c.Key == nil {
		return Receipt{}, fmt.Errorf("piecestore: client has no key to sign uploads")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url(id, "?deal="+c.Deal), bytes.NewReader(data))
	if err != nil {
		return Receipt{}, err
	}
	nb := make([]byte, 16)
	rand.Read(nb)
	nonce, ts := hex.EncodeToString(nb), time.Now().UnixMilli()
	req.Header.Set(headerKey, hex.EncodeToString(c.Key.PubKey()))
	req.Header.Set(headerTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(headerNonce, nonce)
	req.Header.Set(headerSignature, hex.EncodeToString(c.Key.Sign(PutDomain, PutSignBytes(c.Deal, id, len(data), ts, nonce))))
	req.ContentLength = int64(len(data))
	var rc Receipt
	if err := c.do(req, &rc, nil); err != nil {
		return Receipt{}, fmt.Errorf("putting piece %s to %s: %w", id, c.Name(), err)
	}
	signer, ok := rc.Verify()
	if !ok || rc.Piece != id || rc.Deal != c.Deal || rc.Size != uint64(len(data)) || (!c.Provider.IsZero() && signer != c.Provider) {
		return Receipt{}, fmt.Errorf("putting piece %s to %s: bad receipt", id, c.Name())
	}
	c.mu.Lock()
	if c.receipts == nil {
		c.receipts = map[string]Receipt{}
	}
	c.receipts[id] = rc
	c.mu.Unlock()
	return rc, nil
}

// Receipt returns the receipt of a piece this client uploaded.
func (c *Client) Receipt(id string) (Receipt, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc, ok := c.receipts[id]
	return rc, ok
}

// Get implements storage.PieceStore. The caller (storage.Get) verifies the
// piece against its id.
func (c *Client) Get(ctx context.Context, id string) ([]byte, error) {
	if err := ParseID(id); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(id, ""), nil)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.do(req, nil, &buf); err != nil {
		return nil, fmt.Errorf("getting piece %s from %s: %w", id, c.Name(), err)
	}
	return buf.Bytes(), nil
}

// GetRange reads length bytes of a piece from off (unverified).
func (c *Client) GetRange(ctx context.Context, id string, off, length int64) ([]byte, error) {
	if err := ParseID(id); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(id, fmt.Sprintf("?offset=%d&length=%d", off, length)), nil)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.do(req, nil, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Prove asks for an audit proof of leaf.
func (c *Client) Prove(ctx context.Context, id string, leaf uint64) (Proof, error) {
	if err := ParseID(id); err != nil {
		return Proof{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(id, "/proof?leaf="+strconv.FormatUint(leaf, 10)), nil)
	if err != nil {
		return Proof{}, err
	}
	var p Proof
	return p, c.do(req, &p, nil)
}

// Usage asks for the store's capacity and use.
func (c *Client) Usage(ctx context.Context) (Usage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.URL, "/")+Prefix, nil)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	return u, c.do(req, &u, nil)
}

// do sends req; a 2xx body is decoded into v (JSON) or copied to raw.
func (c *Client) do(req *http.Request, v any, raw *bytes.Buffer) error {
	res, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		err := fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(msg)))
		switch res.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		case http.StatusInsufficientStorage:
			return fmt.Errorf("%w: %v", ErrFull, err)
		case http.StatusUnprocessableEntity:
			return fmt.Errorf("%w: %v", storage.ErrCorrupt, err)
		case http.StatusBadRequest:
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		case http.StatusForbidden, http.StatusUnauthorized:
			return fmt.Errorf("%w: %v", ErrPermission, err)
		}
		return err
	}
	if raw != nil {
		if res.ContentLength > 0 && res.ContentLength <= MaxPiece {
			// MinRead more: ReadFrom wants that much room to see EOF, and
			// would otherwise copy the whole piece into a buffer twice the size.
			raw.Grow(int(res.ContentLength) + bytes.MinRead)
		}
		_, err = io.Copy(raw, io.LimitReader(res.Body, MaxPiece+1))
		return err
	}
	return json.NewDecoder(res.Body).Decode(v)
}
