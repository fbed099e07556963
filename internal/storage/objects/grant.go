package objects

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// GrantDomain separates grant signatures from every other signature the
// wallet key makes.
const GrantDomain = "vimana/store/grant/v1"

// ErrGrant is a grant that does not verify, names another owner, or expired.
var ErrGrant = errors.New("objects: invalid grant")

// Grant is a time-limited read grant for one object, signed by the
// owner's ed25519 wallet key. It authorizes a read through a gateway or
// client that holds the owner's keys (`store get --grant`, the S3
// gateway's /_vimana/grant/ path): the token itself carries no
// decryption key.
type Grant struct {
	Version int    `json:"v"`
	Bucket  string `json:"bucket"`
	Key     string `json:"key"`
	Expires int64  `json:"exp"`   // unix seconds
	Owner   []byte `json:"owner"` // ed25519 public key
}

// Signer is the part of a wallet key grants need.
type Signer interface {
	Sign(domain string, msg []byte) []byte
	PubKey() ed25519.PublicKey
}

// SignGrant returns the token: base64url(JSON) "." base64url(signature).
func SignGrant(k Signer, bucket, key string, expires time.Time) (string, error) {
	g := Grant{Version: 1, Bucket: bucket, Key: key, Expires: expires.Unix(), Owner: k.PubKey()}
	body, err := json.Marshal(g)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(body) + "." + enc.EncodeToString(k.Sign(GrantDomain, body)), nil
}

// VerifyGrant parses token and checks its signature by owner and that it
// has not expired at now.
func VerifyGrant(token string, owner ed25519.PublicKey, now time.Time, verify func(pub ed25519.PublicKey, domain string, msg, sig []byte) bool) (Grant, error) {
	var g Grant
	body64, sig64, ok := strings.Cut(token, ".")
	if !ok || len(token) > 8192 {
		return g, fmt.Errorf("%w: malformed token", ErrGrant)
	}
	enc := base64.RawURLEncoding
	body, err := enc.DecodeString(body64)
	if err != nil {
		return g, fmt.Errorf("%w: malformed token", ErrGrant)
	}
	sig, err := enc.DecodeString(sig64)
	if err != nil {
		return g, fmt.Errorf("%w: malformed token", ErrGrant)
	}
	if err := json.Unmarshal(body, &g); err != nil || g.Version != 1 {
		return Grant{}, fmt.Errorf("%w: malformed token", ErrGrant)
	}
	if !ed25519.PublicKey(g.Owner).Equal(owner) {
		return Grant{}, fmt.Errorf("%w: signed by another owner", ErrGrant)
	}
	if !verify(owner, GrantDomain, body, sig) {
		return Grant{}, fmt.Errorf("%w: bad signature", ErrGrant)
	}
	if now.Unix() >= g.Expires {
		return Grant{}, fmt.Errorf("%w: expired at %s", ErrGrant, time.Unix(g.Expires, 0).UTC().Format(time.RFC3339))
	}
	return g, nil
}
