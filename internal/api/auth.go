package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
)

// Request signing. Over TCP every request carries
//
//	Vimana-Key:       hex ed25519 public key (the caller's identity and owner key)
//	Vimana-Timestamp: unix milliseconds
//	Vimana-Nonce:     16 random bytes, hex (identical requests in the same
//	                  millisecond must still differ: ed25519 is deterministic)
//	Vimana-Signature: hex ed25519 signature of
//	                  procedure "\n" timestamp "\n" nonce "\n" hex(sha256(deterministic proto of the request))
//
// The server accepts keys listed in the node's authorized keys (until the
// microchain's wallets exist), timestamps within MaxSkew, and each
// signature once (replays inside the window are refused). Requests on the
// unix socket are the local admin and carry no signature.
const (
	HeaderKey       = "Vimana-Key"
	HeaderTimestamp = "Vimana-Timestamp"
	HeaderSignature = "Vimana-Signature"
	HeaderNonce     = "Vimana-Nonce"
	MaxSkew         = 60 * time.Second
)

// LocalAdmin is the identity of unix-socket callers.
const LocalAdmin = "local-admin"

type identityKey struct{}

// Identity returns the caller's key (hex) or LocalAdmin.
func Identity(ctx context.Context) string {
	id, _ := ctx.Value(identityKey{}).(string)
	return id
}

func signedPayload(procedure string, ts int64, nonce string, msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("request is not a protobuf message")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return []byte(procedure + "\n" + strconv.FormatInt(ts, 10) + "\n" + nonce + "\n" + hex.EncodeToString(sum[:])), nil
}

// SignInterceptor signs every unary request, and a stream's first request
// message (the only one of a server stream; ExecStream's start), with key.
func SignInterceptor(key ed25519.PrivateKey, now func() time.Time) connect.Interceptor {
	if now == nil {
		now = time.Now
	}
	return &signer{key: key, now: now}
}

type signer struct {
	key ed25519.PrivateKey
	now func() time.Time
}

func (s *signer) sign(procedure string, h interface{ Set(string, string) }, msg any) error {
	ts := s.now().UnixMilli()
	nb := make([]byte, 16)
	if _, err := rand.Read(nb); err != nil {
		return err
	}
	nonce := hex.EncodeToString(nb)
	p, err := signedPayload(procedure, ts, nonce, msg)
	if err != nil {
		return err
	}
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderKey, hex.EncodeToString(s.key.Public().(ed25519.PublicKey)))
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, hex.EncodeToString(ed25519.Sign(s.key, p)))
	return nil
}

func (s *signer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := s.sign(req.Spec().Procedure, req.Header(), req.Any()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (s *signer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		return &signingConn{StreamingClientConn: next(ctx, spec), s: s}
	}
}

func (s *signer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// signingConn signs a stream's first request message before it is sent
// (headers go out with the first message). Later messages of a
// bidirectional stream ride on the stream that signature opened.
type signingConn struct {
	connect.StreamingClientConn
	s    *signer
	sent bool
}

func (c *signingConn) Send(msg any) error {
	if !c.sent {
		c.sent = true
		if err := c.s.sign(c.Spec().Procedure, c.RequestHeader(), msg); err != nil {
			return err
		}
	}
	return c.StreamingClientConn.Send(msg)
}

// verifier checks signatures on the server.
type verifier struct {
	authorized func(key string) bool
	now        func() time.Time
	mu         sync.Mutex
	seen       map[string]time.Time // signature -> when seen
}

func newVerifier(authorized func(string) bool) *verifier {
	return &verifier{authorized: authorized, now: time.Now, seen: map[string]time.Time{}}
}

var errUnsigned = errors.New("request is not signed: set Vimana-Key, Vimana-Timestamp, Vimana-Nonce and Vimana-Signature")

func (v *verifier) verify(procedure string, h interface{ Get(string) string }, msg any) (string, error) {
	keyHex, tsStr, sigHex, nonce := h.Get(HeaderKey), h.Get(HeaderTimestamp), h.Get(HeaderSignature), h.Get(HeaderNonce)
	if keyHex == "" || tsStr == "" || sigHex == "" || len(nonce) < 16 {
		return "", connect.NewError(connect.CodeUnauthenticated, errUnsigned)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("Vimana-Key is not a hex ed25519 public key"))
	}
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("Vimana-Timestamp is not unix milliseconds"))
	}
	skew := v.now().Sub(time.UnixMilli(ts))
	if skew > MaxSkew || skew < -MaxSkew {
		return "", connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("request timestamp is %s off the node's clock (max %s)", skew.Round(time.Second), MaxSkew))
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("Vimana-Signature is not hex"))
	}
	p, err := signedPayload(procedure, ts, nonce, msg)
	if err != nil {
		return "", connect.NewError(connect.CodeInvalidArgument, err)
	}
	if !ed25519.Verify(key, p, sig) {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("bad signature"))
	}
	if !v.authorized(keyHex) {
		return "", connect.NewError(connect.CodePermissionDenied, fmt.Errorf("key %s… is not authorized on this node", keyHex[:12]))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for s, at := range v.seen {
		if v.now().Sub(at) > 2*MaxSkew {
			delete(v.seen, s)
		}
	}
	if _, dup := v.seen[sigHex]; dup {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("replayed request"))
	}
	v.seen[sigHex] = v.now()
	return keyHex, nil
}

// authInterceptor verifies TCP requests; local (unix socket) servers use
// localInterceptor instead.
type authInterceptor struct{ v *verifier }

func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		id, err := a.v.verify(req.Spec().Procedure, req.Header(), req.Any())
		if err != nil {
			return nil, err
		}
		return next(context.WithValue(ctx, identityKey{}, id), req)
	}
}

func (a authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(context.WithValue(ctx, identityKey{}, pendingAuth{a.v, conn}), conn)
	}
}

// pendingAuth defers verification of a stream until its (first) request
// message has been received (the handler calls streamIdentity).
type pendingAuth struct {
	v    *verifier
	conn connect.StreamingHandlerConn
}

type localInterceptor struct{}

func (localInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		return next(context.WithValue(ctx, identityKey{}, LocalAdmin), req)
	}
}
func (localInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}
func (localInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(context.WithValue(ctx, identityKey{}, LocalAdmin), conn)
	}
}

// streamIdentity resolves the caller of a server-streaming call once its
// request is known.
func streamIdentity(ctx context.Context, procedure string, h interface{ Get(string) string }, msg any) (string, error) {
	switch v := ctx.Value(identityKey{}).(type) {
	case string:
		return v, nil
	case pendingAuth:
		return v.v.verify(procedure, h, msg)
	}
	return "", connect.NewError(connect.CodeUnauthenticated, errUnsigned)
}
