package app

import (
	"crypto/sha256"
	"encoding/binary"
)

// Leaf and inner-node prefixes keep a leaf from ever hashing like an inner
// node (second-preimage resistance, as in RFC 6962 and CometBFT's merkle).
const (
	leafPrefix  = 0x00
	innerPrefix = 0x01
)

// leafHash hashes one key/value pair, length-prefixed so boundaries are
// unambiguous.
func leafHash(key, value []byte) []byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte{leafPrefix})
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.Write(key)
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(value)))])
	h.Write(value)
	return h.Sum(nil)
}

func innerHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{innerPrefix})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// merkleRoot is the root of the binary tree over leaves, split at the
// largest power of two below n (RFC 6962). The empty tree hashes to
// SHA-256 of nothing.
func merkleRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		sum := sha256.Sum256(nil)
		return sum[:]
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return innerHash(merkleRoot(leaves[:k]), merkleRoot(leaves[k:]))
}
