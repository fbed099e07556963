package piecestore

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// HTTP API, mounted on the node API mux under Prefix:
//
//	PUT  /v1/pieces/{id}?deal=D          body: the piece; signed; → Receipt
//	GET  /v1/pieces/{id}[?offset=&length=] → the piece (verified) or a range
//	GET  /v1/pieces/{id}/proof?leaf=N    → Proof
//	GET  /v1/pieces                      → Usage
//
// Uploads carry the request-signing headers of internal/api (Vimana-Key,
// -Timestamp, -Nonce, -Signature) over PutSignBytes, signed with the
// tenant's wallet key under PutDomain. The body is bound by the piece id,
// its BLAKE3 hash, which the store checks. Reads are unsigned: pieces are
// ciphertext, and repair workers and auditors read them.
const (
	Prefix    = "/v1/pieces"
	PutDomain = "vimana/piece-put/v1"
	MaxSkew   = 60 * time.Second

	headerKey       = "Vimana-Key"
	headerTimestamp = "Vimana-Timestamp"
	headerNonce     = "Vimana-Nonce"
	headerSignature = "Vimana-Signature"
)

// PutSignBytes is what a tenant signs to upload a piece.
func PutSignBytes(deal, id string, size int, ts int64, nonce string) []byte {
	return fmt.Appendf(nil, "PUT\n%s\n%s\n%d\n%d\n%s", id, deal, size, ts, nonce)
}

// Authorizer decides whether tenant (an ed25519 public key) may upload
// piece for deal: the node allows the deal's owner, a repair worker when
// the deal is flagged for repair and holds the piece, and anyone for a
// deal not on chain yet (pending; GC drops it if it never appears).
type Authorizer func(ctx context.Context, deal, piece string, tenant ed25519.PublicKey) error

// ErrPermission is an Authorizer's refusal.
var ErrPermission = errors.New("piecestore: not allowed")

// Usage is the store's capacity and use.
type Usage struct {
	Provider wallet.Address `json:"provider"`
	Capacity uint64         `json:"capacity"`
	Used     uint64         `json:"used"`
}

type handler struct {
	s    *Store
	auth Authorizer
	now  func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // signatures inside the skew window
}

// Handler serves s over HTTP; auth may be nil (allow every signed tenant).
func Handler(s *Store, auth Authorizer) http.Handler {
	h := &handler{s: s, auth: auth, now: time.Now, seen: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+Prefix+"/{id}", h.put)
	mux.HandleFunc("GET "+Prefix+"/{id}", h.get)
	mux.HandleFunc("GET "+Prefix+"/{id}/proof", h.proof)
	mux.HandleFunc("GET "+Prefix, h.usage)
	return mux
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrFull):
		code = http.StatusInsufficientStorage
	case errors.Is(err, ErrPermission):
		code = http.StatusForbidden
	case errors.Is(err, errUnauthenticated):
		code = http.StatusUnauthorized
	case errors.Is(err, storage.ErrCorrupt):
		code = http.StatusUnprocessableEntity
	}
	http.Error(w, err.Error(), code)
}

var errUnauthenticated = errors.New("piecestore: upload not signed")

// verify checks an upload's signature headers and returns the signer.
func (h *handler) verify(r *http.Request, deal, id string, size int) (ed25519.PublicKey, error) {
	key, err := hex.DecodeString(r.Header.Get(headerKey))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %s is not a hex ed25519 key", errUnauthenticated, headerKey)
	}
	ts, err := strconv.ParseInt(r.Header.Get(headerTimestamp), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not unix milliseconds", errUnauthenticated, headerTimestamp)
	}
	if skew := h.now().Sub(time.UnixMilli(ts)); skew > MaxSkew || skew < -MaxSkew {
		return nil, fmt.Errorf("%w: timestamp %s off the node's clock", errUnauthenticated, skew.Round(time.Second))
	}
	nonce := r.Header.Get(headerNonce)
	sig, err := hex.DecodeString(r.Header.Get(headerSignature))
	if err != nil || len(nonce) < 16 || len(nonce) > 64 {
		return nil, fmt.Errorf("%w: bad nonce or signature", errUnauthenticated)
	}
	if !wallet.Verify(key, PutDomain, PutSignBytes(deal, id, size, ts, nonce), sig) {
		return nil, fmt.Errorf("%w: signature does not verify", errUnauthenticated)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for s, t := range h.seen {
		if now.Sub(t) > 2*MaxSkew {
			delete(h.seen, s)
		}
	}
	if _, dup := h.seen[string(sig)]; dup {
		return nil, fmt.Errorf("%w: replayed request", errUnauthenticated)
	}
	h.seen[string(sig)] = now
	return key, nil
}

func (h *handler) put(w http.ResponseWriter, r *http.Request) {
	id, deal := r.PathValue("id"), r.URL.Query().Get("deal")
	if err := ParseID(id); err != nil {
		writeErr(w, err)
		return
	}
	if r.ContentLength < 0 || r.ContentLength > MaxPiece {
		writeErr(w, fmt.Errorf("%w: want a Content-Length up to %d", ErrInvalid, MaxPiece))
		return
	}
	key, err := h.verify(r, deal, id, int(r.ContentLength))
	if err != nil {
		writeErr(w, err)
		return
	}
	if h.auth != nil {
		if err := h.auth(r.Context(), deal, id, key); err != nil {
			writeErr(w, err)
			return
		}
	}
	// Refuse before allocating: anyone may upload for a pending deal.
	if c, u := h.s.Usage(); uint64(r.ContentLength) > c-min(c, u) && !h.s.Has(id) {
		writeErr(w, fmt.Errorf("%w: %d of %d bytes used, piece needs %d", ErrFull, u, c, r.ContentLength))
		return
	}
	rc, err := h.s.PutReader(deal, id, r.ContentLength, r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, rc)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if q.Has("offset") || q.Has("length") {
		off, err1 := strconv.ParseInt(q.Get("offset"), 10, 64)
		n, err2 := strconv.ParseInt(q.Get("length"), 10, 64)
		if err1 != nil || err2 != nil {
			writeErr(w, fmt.Errorf("%w: offset and length must be integers", ErrInvalid))
			return
		}
		b, err := h.s.ReadRange(id, off, n)
		if err != nil {
			writeErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
		return
	}
	b, err := h.s.Get(id)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func (h *handler) proof(w http.ResponseWriter, r *http.Request) {
	leaf, err := strconv.ParseUint(r.URL.Query().Get("leaf"), 10, 64)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: leaf must be an integer", ErrInvalid))
		return
	}
	p, err := h.s.Prove(r.PathValue("id"), leaf)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, p)
}

func (h *handler) usage(w http.ResponseWriter, _ *http.Request) {
	c, u := h.s.Usage()
	writeJSON(w, Usage{Provider: h.s.Address(), Capacity: c, Used: u})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
