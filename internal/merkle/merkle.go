// Package merkle is the audit tree of a storage piece, and it is BLAKE3's
// own tree: a piece's root is simply its BLAKE3-256 hash (the same bytes
// as its content address), a leaf is one 1 KiB BLAKE3 chunk, and an inner
// node is a BLAKE3 parent node. The client therefore hashes a piece once,
// on BLAKE3's SIMD path (16 chunks at a time with AVX-512), instead of
// hashing 1 KiB leaves one by one and the piece a second time for its id
// (decisions.md 21). This is the tree Bao verifies; the proof format here
// is the compact one: a leaf and its sibling chaining values, bottom up.
//
// BLAKE3 separates the domains itself: a leaf is compressed with its
// chunk counter and the chunk flags, a parent with the parent flag, and
// the root with the root flag, so a leaf cannot pass for a node nor a
// subtree for the whole piece. The tree's shape over n leaves is BLAKE3's
// (the left subtree holds the largest power of two leaves less than n),
// which is the same as pairing neighbours level by level and promoting an
// odd last node; a proof therefore has no sibling at a promoting level.
//
// A piece store keeps the piece's outline: the chaining value of every
// GroupSize (16 KiB) group of leaves, 32 bytes per group (0.2 % of the
// piece). A proof then costs one group read and 16 chunk compressions.
//
// Pure and deterministic (no I/O), so both the storage client and the
// consensus code (internal/market) import it.
package merkle

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	zb "github.com/zeebo/blake3"
	"lukechampine.com/blake3/guts"
)

// LeafSize is the audit leaf, one BLAKE3 chunk: 1 KiB keeps an audit proof
// (leaf + path) inside one transaction (docs/decisions.md).
const LeafSize = guts.ChunkSize

// GroupLeaves is the number of leaves in an outline group; GroupSize its
// bytes. 16 chunks is one AVX-512 compression of BLAKE3.
const (
	GroupLeaves = guts.MaxSIMD
	GroupSize   = GroupLeaves * LeafSize
)

// HashSize is the size of the root and of every node.
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

// Groups is the number of outline groups of a size-byte blob (at least 1).
func Groups(size uint64) uint64 { return (Leaves(size) + GroupLeaves - 1) / GroupLeaves }

// GroupSpan is the byte range [off, off+n) of group g of a size-byte blob.
func GroupSpan(size, g uint64) (off, n uint64) {
	off = g * GroupSize
	if off >= size {
		return off, 0
	}
	return off, min(GroupSize, size-off)
}

type cv = [8]uint32

func cvBytes(c cv) [HashSize]byte {
	var b [HashSize]byte
	for i, w := range c {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func bytesCV(b []byte) cv {
	var c cv
	for i := range c {
		c[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return c
}

func parent(l, r cv) guts.Node { return guts.ParentNode(l, r, &guts.IV, 0) }

// rootOf finalizes n as the root: its chaining value with the root flag is
// the BLAKE3-256 hash.
func rootOf(n guts.Node) [HashSize]byte {
	n.Flags |= guts.FlagRoot
	return cvBytes(guts.ChainingValue(n))
}

// groupNode is the top node of group g's data (not yet finalized).
func groupNode(data []byte, g uint64) guts.Node {
	counter := g * GroupLeaves
	if len(data) == GroupSize {
		return guts.CompressBuffer((*[GroupSize]byte)(data), GroupSize, &guts.IV, counter, 0)
	}
	var buf [GroupSize]byte
	copy(buf[:], data)
	return guts.CompressBuffer(&buf, len(data), &guts.IV, counter, 0)
}

// up is the next level of the tree above level: neighbours paired into
// their parents' chaining values, an odd last node promoted. It reuses
// level's array.
func up(level []cv) []cv {
	next := level[:0]
	for i := 0; i < len(level); i += 2 {
		if i+1 == len(level) {
			next = append(next, level[i])
			continue
		}
		next = append(next, guts.ChainingValue(parent(level[i], level[i+1])))
	}
	return next
}

// merge reduces cvs level by level to the top node (len(cvs) ≥ 2).
func merge(cvs []cv) guts.Node {
	level := append([]cv(nil), cvs...)
	for len(level) > 2 {
		level = up(level)
	}
	return parent(level[0], level[1])
}

// parallelGroups is the group count from which outlines are computed on
// all CPUs (a 16 MiB piece has 1024 groups).
const parallelGroups = 256

// outline computes every group's chaining value, and the top node when
// the blob is a single group (whose node is then the root's).
func outline(b []byte) ([]cv, guts.Node) {
	size := uint64(len(b))
	n := Groups(size)
	if n == 1 {
		node := groupNode(b, 0)
		return []cv{guts.ChainingValue(node)}, node
	}
	cvs := make([]cv, n)
	hashRange := func(from, to uint64) {
		for g := from; g < to; g++ {
			off, l := GroupSpan(size, g)
			cvs[g] = guts.ChainingValue(groupNode(b[off:off+l], g))
		}
	}
	workers := uint64(runtime.GOMAXPROCS(0))
	if n < parallelGroups || workers < 2 {
		hashRange(0, n)
	} else {
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
	}
	return cvs, merge(cvs)
}

// Root is the root of b: its BLAKE3-256 hash.
func Root(b []byte) []byte {
	h := zb.Sum256(b)
	return h[:]
}

// Tree returns b's root and its outline (the chaining value of every
// group, concatenated) in one pass over b, on all CPUs for large b. A piece
// store checks the root against the piece's id and keeps the outline.
func Tree(b []byte) (root []byte, outlineBytes []byte) {
	cvs, top := outline(b)
	r := rootOf(top)
	out := make([]byte, 0, len(cvs)*HashSize)
	for _, c := range cvs {
		h := cvBytes(c)
		out = append(out, h[:]...)
	}
	return r[:], out
}

// siblings appends to path the sibling of index at every level of the
// pairwise tree over level, bottom up, stopping below the top.
func siblings(path [][]byte, level []cv, index uint64) [][]byte {
	level = append([]cv(nil), level...)
	i := index
	for len(level) > 1 {
		if sib := i ^ 1; sib < uint64(len(level)) {
			h := cvBytes(level[sib])
			path = append(path, h[:])
		}
		level = up(level)
		i /= 2
	}
	return path
}

// ProofFromOutline is the sibling path of leaf index of a size-byte blob,
// given the blob's outline (Tree) and the bytes of the group holding the
// leaf (GroupSpan of index/GroupLeaves). It reads nothing else.
func ProofFromOutline(outlineBytes []byte, size uint64, group []byte, index uint64) ([][]byte, error) {
	n, groups := Leaves(size), Groups(size)
	if index >= n {
		return nil, fmt.Errorf("merkle: leaf %d of %d", index, n)
	}
	if uint64(len(outlineBytes)) != groups*HashSize {
		return nil, fmt.Errorf("merkle: outline of %d bytes for %d groups", len(outlineBytes), groups)
	}
	g := index / GroupLeaves
	if _, l := GroupSpan(size, g); uint64(len(group)) != l {
		return nil, fmt.Errorf("merkle: group %d of %d bytes, want %d", g, len(group), l)
	}
	// Inside the group: the chunks' chaining values.
	first := g * GroupLeaves
	chunks := make([]cv, 0, GroupLeaves)
	for off := 0; off < len(group) || len(chunks) == 0; off += LeafSize {
		chunks = append(chunks, guts.ChainingValue(guts.CompressChunk(group[off:min(off+LeafSize, len(group))], &guts.IV, first+uint64(len(chunks)), 0)))
	}
	path := siblings(nil, chunks, index-first)
	// Above it: the groups' chaining values, checked against this group's.
	cvs := make([]cv, groups)
	for i := range cvs {
		cvs[i] = bytesCV(outlineBytes[i*HashSize:])
	}
	top := chunks[0]
	if len(chunks) > 1 {
		top = guts.ChainingValue(merge(chunks))
	}
	if top != cvs[g] {
		return nil, fmt.Errorf("merkle: group %d does not match the outline", g)
	}
	return siblings(path, cvs, g), nil
}

// Proof is the sibling path of leaf index in b, bottom up; levels where
// the node is promoted without a sibling contribute nothing.
func Proof(b []byte, index uint64) ([][]byte, error) {
	size := uint64(len(b))
	if index >= Leaves(size) {
		return nil, fmt.Errorf("merkle: leaf %d of %d", index, Leaves(size))
	}
	_, out := Tree(b)
	off, l := GroupSpan(size, index/GroupLeaves)
	return ProofFromOutline(out, size, b[off:off+l], index)
}

// LeafCV is the chaining value of leaf index (a non-root node): a piece
// store compares it with a proof's to catch a leaf that rotted on disk.
func LeafCV(leaf []byte, index uint64) []byte {
	h := cvBytes(guts.ChainingValue(guts.CompressChunk(leaf, &guts.IV, index, 0)))
	return h[:]
}

// Verify reports whether leaf is leaf index of a size-byte blob whose root
// is root, given its sibling path. It recomputes the tree's shape from
// size, so a path of the wrong length or a leaf of the wrong length fails.
func Verify(root []byte, size, index uint64, leaf []byte, path [][]byte) bool {
	n := Leaves(size)
	if len(root) != HashSize || index >= n || uint64(len(leaf)) != LeafLen(size, index) || len(path) > MaxDepth {
		return false
	}
	node := guts.CompressChunk(leaf, &guts.IV, index, 0)
	if n == 1 {
		r := rootOf(node)
		return len(path) == 0 && bytes.Equal(r[:], root)
	}
	cur := guts.ChainingValue(node)
	i, width, used := index, n, 0
	for width > 1 {
		if sib := i ^ 1; sib < width {
			if used >= len(path) || len(path[used]) != HashSize {
				return false
			}
			s := bytesCV(path[used])
			used++
			if i%2 == 0 {
				node = parent(cur, s)
			} else {
				node = parent(s, cur)
			}
			if width == 2 { // this parent is the root
				r := rootOf(node)
				return used == len(path) && bytes.Equal(r[:], root)
			}
			cur = guts.ChainingValue(node)
		}
		i /= 2
		width = (width + 1) / 2
	}
	return false // unreachable: width passes through 2 for n > 1
}

// Builder computes a blob's root and outline from a stream (an
// io.Writer), hashing each group as it completes, so a piece store can
// hash a piece while it receives and writes it. The zero value is ready.
type Builder struct {
	buf  [GroupSize]byte
	n    int
	cvs  []cv
	size uint64
}

// Write implements io.Writer; it never fails.
func (b *Builder) Write(p []byte) (int, error) {
	total := len(p)
	b.size += uint64(total)
	for len(p) > 0 {
		if b.n == GroupSize { // a full group with more data after it
			b.cvs = append(b.cvs, guts.ChainingValue(groupNode(b.buf[:], uint64(len(b.cvs)))))
			b.n = 0
		}
		for b.n == 0 && len(p) > GroupSize { // whole groups straight from p
			b.cvs = append(b.cvs, guts.ChainingValue(groupNode(p[:GroupSize], uint64(len(b.cvs)))))
			p = p[GroupSize:]
		}
		c := copy(b.buf[b.n:], p)
		b.n += c
		p = p[c:]
	}
	return total, nil
}

// Size is the number of bytes written.
func (b *Builder) Size() uint64 { return b.size }

// Sum returns the root (the BLAKE3-256 hash) and outline of what was
// written, as Tree would; the Builder may go on being written to.
func (b *Builder) Sum() (root []byte, outlineBytes []byte) {
	node := groupNode(b.buf[:b.n], uint64(len(b.cvs)))
	cvs := append(append(make([]cv, 0, len(b.cvs)+1), b.cvs...), guts.ChainingValue(node))
	if len(cvs) > 1 {
		node = merge(cvs)
	}
	r := rootOf(node)
	out := make([]byte, 0, len(cvs)*HashSize)
	for _, c := range cvs {
		h := cvBytes(c)
		out = append(out, h[:]...)
	}
	return r[:], out
}
