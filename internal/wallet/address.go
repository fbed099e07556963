package wallet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// AddressPrefix is the bech32 human-readable part of every account address.
const AddressPrefix = "vis"

// AddressSize is the length of an address in bytes.
const AddressSize = 20

// Address identifies an account: the first 20 bytes of SHA-256 of its
// ed25519 public key (the same derivation CometBFT uses for validators).
type Address [AddressSize]byte

// AddressOf derives the address of a public key.
func AddressOf(pub ed25519.PublicKey) Address {
	sum := sha256.Sum256(pub)
	var a Address
	copy(a[:], sum[:AddressSize])
	return a
}

// String is the bech32 form, e.g. vis1....
func (a Address) String() string {
	s, err := bech32Encode(AddressPrefix, a[:])
	if err != nil {
		// Unreachable: 8-bit input always converts.
		return "vis-invalid-" + hex.EncodeToString(a[:])
	}
	return s
}

// IsZero reports whether a is the zero address.
func (a Address) IsZero() bool { return a == Address{} }

// Compare orders addresses bytewise.
func (a Address) Compare(b Address) int { return bytes.Compare(a[:], b[:]) }

// MarshalText implements encoding.TextMarshaler (bech32).
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (bech32).
func (a *Address) UnmarshalText(b []byte) error {
	p, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// ParseAddress parses a bech32 address with the vis prefix.
func ParseAddress(s string) (Address, error) {
	hrp, data, err := bech32Decode(s)
	if err != nil {
		return Address{}, fmt.Errorf("address %q: %w", s, ErrInvalid)
	}
	if hrp != AddressPrefix {
		return Address{}, fmt.Errorf("address %q: prefix %q, want %q: %w", s, hrp, AddressPrefix, ErrInvalid)
	}
	if len(data) != AddressSize {
		return Address{}, fmt.Errorf("address %q: %d bytes, want %d: %w", s, len(data), AddressSize, ErrInvalid)
	}
	var a Address
	copy(a[:], data)
	return a, nil
}

// Bytes returns a copy of the raw 20 bytes.
func (a Address) Bytes() []byte { return append([]byte(nil), a[:]...) }
