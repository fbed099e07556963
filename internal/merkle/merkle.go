// Package merkle is the BLAKE3 Merkle tree over fixed-size leaves that
// storage audits use: the client computes a piece's root, the provider
// proves it holds one leaf with the sibling path, and the chain verifies
// the path. Pure and deterministic (no I/O), so both the storage client
// and the consensus code (internal/market) import it.
//
// Leaves are LeafSize bytes (the last may be shorter); a leaf hashes as
// BLAKE3 in derive-key mode with the context "vimana/merkle/v2 leaf", an
// inner node as BLAKE3 derive-key "vimana/merkle/v2 node" over left ‖
// right. Domain separation by key rather than by a prefix byte keeps a
// 1 KiB leaf to exactly one BLAKE3 chunk and a node to one 64-byte block
// (a prefix byte made them two chunks and two blocks: twice the work). A
// level with an odd count promotes its last node unchanged, so a proof
// for such a node has no sibling at that level.
package merkle

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"

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

// Derive-key contexts: the two hash domains of the tree.
const (
	leafContext = "vimana/merkle/v2 leaf"
	nodeContext = "vimana/merkle/v2 node"
)

// hashers holds one reusable BLAKE3 state per domain (not safe for
// concurrent use; each goroutine makes its own).
type hashers struct{ leaf, node *blake3.Hasher }

func newHashers() *hashers {
	return &hashers{leaf: blake3.NewDeriveKey(leafContext), node: blake3.NewDeriveKey(nodeContext)}
}

func leafHash(h *hashers, b []byte) [HashSize]byte {
	h.leaf.Reset()
	h.leaf.Write(b)
	var out [HashSize]byte
	h.leaf.Sum(out[:0])
	return out
}

func nodeHash(h *hashers, l, r []byte) [HashSize]byte {
	h.node.Reset()
	h.node.Write(l)
	h.node.Write(r)
	var out [HashSize]byte
	h.node.Sum(out[:0])
	return out
}

// parallelLeaves is the leaf count from which leafLevel splits the work
// across the CPUs (a 16 MiB piece has 16384 leaves).
const parallelLeaves = 2048

func leafLevel(b []byte) [][HashSize]byte {
	size := uint64(len(b))
	n := Leaves(size)
	level := make([][HashSize]byte, n)
	hashRange := func(from, to uint64) {
		h := newHashers()
		for i := from; i < to; i++ {
			off := i * LeafSize
			level[i] = leafHash(h, b[off:off+LeafLen(size, i)])
		}
	}
	workers := uint64(runtime.GOMAXPROCS(0))
	if n < parallelLeaves || workers < 2 {
		hashRange(0, n)
		return level
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for from := uint64(0); from < n; from += per {
		wg.Add(1)
		go func(from, to uint64) {
			defer wg.Done()
			hashRange(from, to)
		}(from, min(from+per, n))
	}
	wg.Wait()
	return level
}

func up(h *hashers, level [][HashSize]byte) [][HashSize]byte {
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
	h := leafHash(newHashers(), leaf)
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
	h := newHashers()
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
	h := newHashers()
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
	h := newHashers()
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
