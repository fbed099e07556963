package wallet

import (
	"crypto/ecdh"
	"crypto/hpke"
	"fmt"
)

// Sealed boxes: HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256 and ChaCha20-Poly1305. Only the holder of the recipient's
// X25519 private key can open a box; info binds it to one purpose (e.g.
// one lease), so a box cannot be replayed for another.

var (
	sealKEM  = hpke.DHKEM(ecdh.X25519())
	sealKDF  = hpke.HKDFSHA256()
	sealAEAD = hpke.ChaCha20Poly1305()
)

// MaxSealed bounds a sealed box's size (and so what Open will look at).
const MaxSealed = 64 << 10

// Seal encrypts plaintext to the X25519 public key pub, bound to info.
func Seal(pub []byte, info string, plaintext []byte) ([]byte, error) {
	pk, err := sealKEM.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("sealing: recipient key: %w", err)
	}
	if len(plaintext) > MaxSealed-256 {
		return nil, fmt.Errorf("sealing: %d bytes is more than %d", len(plaintext), MaxSealed-256)
	}
	return hpke.Seal(pk, sealKDF, sealAEAD, []byte(info), plaintext)
}

// Open decrypts a box sealed to priv with the same info.
func Open(priv *ecdh.PrivateKey, info string, box []byte) ([]byte, error) {
	if len(box) > MaxSealed {
		return nil, fmt.Errorf("opening: box of %d bytes is over the limit %d", len(box), MaxSealed)
	}
	sk, err := sealKEM.NewPrivateKey(priv.Bytes())
	if err != nil {
		return nil, err
	}
	out, err := hpke.Open(sk, sealKDF, sealAEAD, []byte(info), box)
	if err != nil {
		return nil, fmt.Errorf("opening: not sealed to this key for %q, or tampered with", info)
	}
	return out, nil
}
