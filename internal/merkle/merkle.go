// Package merkle is the BLAKE3 Merkle tree over fixed-size leaves that
// storage audits use: the client computes a piece's root, the provider
// proves it holds one leaf with the sibling path, and the chain verifies
// the path. Pure and deterministic (no I/O), so both the storage client
// and the consensus code (internal/market) import it.
//
// Leaves are LeafSize bytes (the last may be shorter); a leaf hashes as
// BLAKE3(0x00 ‖ bytes), an inner node as BLAKE3(0x01 ‖ left ‖ right). A
// level with an odd count promotes its last node unchanged, so a proof
// for such a node has no sibling at that level.
package merkle

import (
	"bytes"
	"fmt"

	"github.com/zeebo/blake3"
)

// LeafSize is the audit leaf: 1 KiB keeps an audit proof (leaf + path)
// inside one transaction (docs/decisions.md).
const LeafSize = 1 << 10

// HashSize is the size of every node.
const HashSize = 32

// MaxDepth bounds a path: 2^40 leaves is far beyond any piece.
const MaxDepth = 40

// Leaves is the number of leaves of a size-byte blob (at least 1).
func Leaves(size uint64) uint64 {
	if size == 0 {
		return 1
	}
	return (size + LeafSize - 1) / LeafSize
}

// LeafLen is the length of leaf i of a size-byte blob.
func LeafLen(size, i uint64) uint64 {
	off := i * LeafSize
	if off >= size {
		return 0
	}
	return min(LeafSize, size-off)
}

func leafHash(h *blake3.Hasher, b []byte) [HashSize]byte {
	h.Reset()
	h.Write([]byte{0})
	h.Write(b)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

func nodeHash(h *blake3.Hasher, l, r []byte) [HashSize]byte {
	h.Reset()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

func leafLevel(b []byte) [][HashSize]byte {
	h := blake3.New()
	n := Leaves(uint64(len(b)))
	level := make([][HashSize]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		off := i * LeafSize
		level = append(level, leafHash(h, b[off:off+LeafLen(uint64(len(b)), i)]))
	}
	return level
}

func up(h *blake3.Hasher, level [][HashSize]byte) [][HashSize]byte {
	next := make([][HashSize]byte, 0, (len(level)+1)/2)
	for i := 0; i < len(level); i += 2 {
		if i+1 == len(level) {
			next = append(next, level[i])
			continue
		}
		next = append(next, nodeHash(h, level[i][:], level[i+1][:]))
	}
	return next
}

// LeafHashes returns the hash of every leaf of b, concatenated: a piece
// store keeps them so a proof costs one leaf read, not a pass over the
// whole piece.
func LeafHashes(b []byte) []byte {
	level := leafLevel(b)
	out := make([]byte, 0, len(level)*HashSize)
	for _, h := range level {
		out = append(out, h[:]...)
	}
	return out
}

// LeafHash is the hash of one leaf's bytes.
func LeafHash(leaf []byte) []byte {
	h := leafHash(blake3.New(), leaf)
	return h[:]
}

// ProofFromLeaves is Proof computed from LeafHashes instead of the data.
func ProofFromLeaves(leaves []byte, index uint64) ([][]byte, error) {
	if len(leaves) == 0 || len(leaves)%HashSize != 0 || index >= uint64(len(leaves)/HashSize) {
		return nil, fmt.Errorf("merkle: leaf %d of %d", index, len(leaves)/HashSize)
	}
	level := make([][HashSize]byte, len(leaves)/HashSize)
	for i := range level {
		copy(level[i][:], leaves[i*HashSize:])
	}
	return pathOf(level, index), nil
}

func pathOf(level [][HashSize]byte, index uint64) [][]byte {
	h := blake3.New()
	var path [][]byte
	i := index
	for len(level) > 1 {
		if sib := i ^ 1; sib < uint64(len(level)) {
			s := level[sib]
			path = append(path, s[:])
		}
		level = up(h, level)
		i /= 2
	}
	return path
}

// Root is the Merkle root of b.
func Root(b []byte) []byte {
	h := blake3.New()
	level := leafLevel(b)
	for len(level) > 1 {
		level = up(h, level)
	}
	return level[0][:]
}

// Proof is the sibling path of leaf index in b, bottom up; levels where
// the node is promoted without a sibling contribute nothing.
func Proof(b []byte, index uint64) ([][]byte, error) {
	if index >= Leaves(uint64(len(b))) {
		return nil, fmt.Errorf("merkle: leaf %d of %d", index, Leaves(uint64(len(b))))
	}
	return pathOf(leafLevel(b), index), nil
}

// Verify reports whether leaf is leaf index of a size-byte blob whose root
// is root, given its sibling path. It recomputes the tree's shape from
// size, so a path of the wrong length or a leaf of the wrong length fails.
func Verify(root []byte, size, index uint64, leaf []byte, path [][]byte) bool {
	n := Leaves(size)
	if len(root) != HashSize || index >= n || uint64(len(leaf)) != LeafLen(size, index) || len(path) > MaxDepth {
		return false
	}
	h := blake3.New()
	cur := leafHash(h, leaf)
	i, width, used := index, n, 0
	for width > 1 {
		if sib := i ^ 1; sib < width {
			if used >= len(path) || len(path[used]) != HashSize {
				return false
			}
			if i%2 == 0 {
				cur = nodeHash(h, cur[:], path[used])
			} else {
				cur = nodeHash(h, path[used], cur[:])
			}
			used++
		}
		i /= 2
		width = (width + 1) / 2
	}
	return used == len(path) && bytes.Equal(cur[:], root)
}
