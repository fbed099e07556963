// Package wallet owns account keys and addresses: ed25519 keys, their
// bech32 addresses (prefix "vis", 20 bytes of SHA-256 of the public key),
// domain-separated signing, and an on-disk keystore that encrypts each key
// with a passphrase (scrypt + XChaCha20-Poly1305).
//
// It is a leaf package used by the chain application and the CLI; it must
// not import internal/chain, internal/hypercore or internal/node.
package wallet
