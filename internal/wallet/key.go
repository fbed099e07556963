package wallet

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Error classes of this package; wrap them, never match strings.
var (
	ErrInvalid       = errors.New("invalid")
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrPermission    = errors.New("permission denied") // wrong passphrase
)

// Key is an ed25519 account key. Its String method never reveals the
// private half, so a Key can be logged or printed by mistake safely.
type Key struct {
	priv ed25519.PrivateKey
}

// Generate makes a new key from r (crypto/rand when nil).
func Generate(r io.Reader) (*Key, error) {
	if r == nil {
		r = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	return &Key{priv: priv}, nil
}

// FromSeed rebuilds a key from its 32-byte ed25519 seed.
func FromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("seed is %d bytes, want %d: %w", len(seed), ed25519.SeedSize, ErrInvalid)
	}
	return &Key{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns the 32-byte secret seed (for export and keystores only).
func (k *Key) Seed() []byte { return k.priv.Seed() }

// PubKey returns the public key.
func (k *Key) PubKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Address returns the account address of the key.
func (k *Key) Address() Address { return AddressOf(k.PubKey()) }

// String identifies the key by address only.
func (k *Key) String() string { return "wallet.Key(" + k.Address().String() + ")" }

// Sign signs msg under a domain separator (see SignBytes).
func (k *Key) Sign(domain string, msg []byte) []byte {
	return ed25519.Sign(k.priv, SignBytes(domain, msg))
}

// Verify checks a signature made by Sign with the same domain.
func Verify(pub ed25519.PublicKey, domain string, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, SignBytes(domain, msg), sig)
}

// SignBytes prefixes msg with a domain separator and a NUL so a signature
// made for one purpose (a chain tx, an API request) is never valid for
// another.
func SignBytes(domain string, msg []byte) []byte {
	out := make([]byte, 0, len(domain)+1+len(msg))
	out = append(out, domain...)
	out = append(out, 0)
	return append(out, msg...)
}
