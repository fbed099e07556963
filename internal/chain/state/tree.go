package state

import (
	"bytes"
	"crypto/sha256"
	"slices"
)

// HashSize is the size of every hash in the tree (SHA-256).
const HashSize = sha256.Size

// Hash is a node hash or a key path.
type Hash = [HashSize]byte

// Node hash prefixes keep a leaf from ever hashing like an inner node.
const (
	leafPrefix  = 0x00
	innerPrefix = 0x01
)

// maxDepth is the deepest a node can sit: key paths are 256 bits.
const maxDepth = 8 * HashSize

// emptyHash is the hash of an empty subtree, and the root of an empty tree.
var emptyHash Hash

// node is a leaf (one key) or an inner node (two subtrees, at least two
// keys below it). A subtree holding a single key is represented by that
// key's leaf, wherever the subtree sits: leaves move up and down as
// neighbours come and go, which is why a leaf's hash does not include its
// depth. nil is the empty subtree.
type node struct {
	hash        Hash
	left, right *node // inner nodes only
	path        Hash  // leaves only: SHA-256 of the key
	valueHash   Hash  // leaves only: SHA-256 of the value
}

func (n *node) isLeaf() bool { return n.left == nil && n.right == nil }

// KeyPath is where key lives in the tree: SHA-256 of the key.
func KeyPath(key []byte) Hash { return sha256.Sum256(key) }

// LeafHash is H(0x00 ‖ path ‖ valueHash).
func LeafHash(path, valueHash Hash) Hash {
	var buf [1 + 2*HashSize]byte
	buf[0] = leafPrefix
	copy(buf[1:], path[:])
	copy(buf[1+HashSize:], valueHash[:])
	return sha256.Sum256(buf[:])
}

// InnerHash is H(0x01 ‖ left ‖ right); an empty side is the zero hash.
func InnerHash(left, right Hash) Hash {
	var buf [1 + 2*HashSize]byte
	buf[0] = innerPrefix
	copy(buf[1:], left[:])
	copy(buf[1+HashSize:], right[:])
	return sha256.Sum256(buf[:])
}

func newLeaf(path, valueHash Hash) *node {
	return &node{hash: LeafHash(path, valueHash), path: path, valueHash: valueHash}
}

func hashOf(n *node) Hash {
	if n == nil {
		return emptyHash
	}
	return n.hash
}

// bit is bit i of path, most significant first.
func bit(path *Hash, i int) byte { return (path[i/8] >> (7 - i%8)) & 1 }

// Tree is an immutable sparse Merkle tree. The zero Tree is empty.
type Tree struct {
	root *node
	size int
}

// Root is the tree's root hash: the app hash. An empty tree's root is 32
// zero bytes.
func (t Tree) Root() []byte {
	h := hashOf(t.root)
	return h[:]
}

// Len is the number of keys in the tree.
func (t Tree) Len() int { return t.size }

// Change sets Key to Value; a nil Value deletes Key.
type Change struct {
	Key   []byte
	Value []byte
}

// op is one change to apply, addressed by key path; keep carries an
// existing leaf that a rebuilt subtree must keep.
type op struct {
	path      Hash
	valueHash Hash
	del       bool
	seq       int // index in the caller's changes
	keep      *node
}

// Update returns the tree with changes applied; t itself is unchanged.
// When a key appears more than once the last change wins. Deleting an
// absent key is a no-op.
func (t Tree) Update(changes []Change) Tree {
	if len(changes) == 0 {
		return t
	}
	ops := make([]op, len(changes))
	for i, c := range changes {
		ops[i] = op{path: KeyPath(c.Key), del: c.Value == nil, seq: i}
		if c.Value != nil {
			ops[i].valueHash = sha256.Sum256(c.Value)
		}
	}
	// Sort by path, then by position in changes (a total order, so the
	// unstable sort is deterministic), and keep the last change of each key.
	slices.SortFunc(ops, func(a, b op) int {
		if c := bytes.Compare(a.path[:], b.path[:]); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	out := ops[:0]
	for i := range ops {
		if i+1 < len(ops) && ops[i+1].path == ops[i].path {
			continue
		}
		out = append(out, ops[i])
	}
	size := t.size
	root := update(t.root, 0, out, &size)
	return Tree{root: root, size: size}
}

// update applies ops (sorted by path, unique, all under n's position at
// depth) to the subtree n and returns the new subtree. size tracks the
// number of keys.
func update(n *node, depth int, ops []op, size *int) *node {
	if len(ops) == 0 {
		return n
	}
	if n == nil {
		return build(depth, ops, size)
	}
	if n.isLeaf() {
		i, found := slices.BinarySearchFunc(ops, n.path, func(o op, p Hash) int { return bytes.Compare(o.path[:], p[:]) })
		if found {
			if len(ops) == 1 {
				o := ops[0]
				switch {
				case o.del:
					*size--
					return nil
				case o.valueHash == n.valueHash:
					return n
				}
				return newLeaf(o.path, o.valueHash)
			}
			// The leaf's own change is among ops: drop the old leaf and
			// let build count the key afresh.
			*size--
		} else {
			// Keep the existing leaf: rebuild the subtree with it in place.
			merged := make([]op, 0, len(ops)+1)
			merged = append(merged, ops[:i]...)
			merged = append(merged, op{path: n.path, valueHash: n.valueHash, keep: n})
			ops = append(merged, ops[i:]...)
			*size--
		}
		return build(depth, ops, size)
	}
	split := splitAt(ops, depth)
	l := update(n.left, depth+1, ops[:split], size)
	r := update(n.right, depth+1, ops[split:], size)
	if l == n.left && r == n.right {
		return n
	}
	return join(l, r)
}

// build makes the subtree at depth holding exactly ops' non-deleted keys.
func build(depth int, ops []op, size *int) *node {
	live := 0
	for i := range ops {
		if !ops[i].del {
			ops[live] = ops[i]
			live++
		}
	}
	ops = ops[:live]
	switch len(ops) {
	case 0:
		return nil
	case 1:
		*size++
		if ops[0].keep != nil {
			return ops[0].keep
		}
		return newLeaf(ops[0].path, ops[0].valueHash)
	}
	if depth >= maxDepth {
		panic("state: two keys with one path") // unreachable: ops are unique
	}
	split := splitAt(ops, depth)
	return join(build(depth+1, ops[:split], size), build(depth+1, ops[split:], size))
}

// splitAt is the index of the first op whose path has bit depth set.
func splitAt(ops []op, depth int) int {
	i, _ := slices.BinarySearchFunc(ops, 1, func(o op, one int) int { return int(bit(&o.path, depth)) - one })
	return i
}

// join makes the inner node over l and r, or lifts a lone leaf up.
func join(l, r *node) *node {
	switch {
	case l == nil && r == nil:
		return nil
	case l == nil && r.isLeaf():
		return r
	case r == nil && l.isLeaf():
		return l
	}
	return &node{hash: InnerHash(hashOf(l), hashOf(r)), left: l, right: r}
}

// Build returns the tree holding exactly kv. The map is only read into a
// slice that Update sorts by key path, so its iteration order cannot
// reach the result.
func Build(kv map[string][]byte) Tree {
	changes := make([]Change, 0, len(kv))
	for k, v := range kv {
		if v != nil {
			changes = append(changes, Change{Key: []byte(k), Value: v})
		}
	}
	return Tree{}.Update(changes)
}
