package state

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrProof is the class of every proof that does not verify.
var ErrProof = errors.New("state: invalid proof")

// Proof is the path from the root to where a key's walk ends: the key's
// own leaf (existence), an empty subtree, or another key's leaf whose
// subtree the key would share (both absence).
type Proof struct {
	// Siblings are the hashes beside the path, root first; the walk ended
	// at depth len(Siblings). An empty sibling is the zero hash.
	Siblings []Hash
	// Leaf is the leaf where the walk ended, nil for an empty subtree.
	Leaf *ProofLeaf
}

// ProofLeaf is a leaf's content: the key path and the value's hash.
type ProofLeaf struct {
	Path, ValueHash Hash
}

// Prove returns the proof for key: existence when the tree holds it,
// absence otherwise.
func (t Tree) Prove(key []byte) Proof {
	path := KeyPath(key)
	var p Proof
	n := t.root
	for depth := 0; n != nil && !n.isLeaf(); depth++ {
		if bit(&path, depth) == 0 {
			p.Siblings = append(p.Siblings, hashOf(n.right))
			n = n.left
		} else {
			p.Siblings = append(p.Siblings, hashOf(n.left))
			n = n.right
		}
	}
	if n != nil {
		p.Leaf = &ProofLeaf{Path: n.path, ValueHash: n.valueHash}
	}
	return p
}

// Exists reports whether p shows key present (it may still not verify).
func (p Proof) Exists(key []byte) bool { return p.Leaf != nil && p.Leaf.Path == KeyPath(key) }

// ComputeRoot is the root p leads to when key has value (exists) or is
// absent (!exists). A proof of the other kind, or a malformed one, is an
// error; comparing the result with a trusted root is the caller's job
// (see Verify).
func (p Proof) ComputeRoot(key, value []byte, exists bool) (Hash, error) {
	path := KeyPath(key)
	depth := len(p.Siblings)
	if depth > maxDepth {
		return Hash{}, fmt.Errorf("%w: %d siblings", ErrProof, depth)
	}
	var h Hash
	switch {
	case exists:
		if p.Leaf == nil || p.Leaf.Path != path {
			return Hash{}, fmt.Errorf("%w: not an existence proof for this key", ErrProof)
		}
		if p.Leaf.ValueHash != sha256.Sum256(value) {
			return Hash{}, fmt.Errorf("%w: value does not match the proof", ErrProof)
		}
		h = LeafHash(path, p.Leaf.ValueHash)
	case p.Leaf == nil:
		h = emptyHash
	default:
		if p.Leaf.Path == path {
			return Hash{}, fmt.Errorf("%w: the key is present", ErrProof)
		}
		// The other key must sit in the subtree the key's walk reached.
		for i := 0; i < depth; i++ {
			if bit(&p.Leaf.Path, i) != bit(&path, i) {
				return Hash{}, fmt.Errorf("%w: the leaf is not on the key's path", ErrProof)
			}
		}
		h = LeafHash(p.Leaf.Path, p.Leaf.ValueHash)
	}
	for i := depth - 1; i >= 0; i-- {
		if bit(&path, i) == 0 {
			h = InnerHash(h, p.Siblings[i])
		} else {
			h = InnerHash(p.Siblings[i], h)
		}
	}
	return h, nil
}

// Verify checks that p proves key has value (exists) or is absent
// (!exists) in the tree whose root is root.
func (p Proof) Verify(root, key, value []byte, exists bool) error {
	h, err := p.ComputeRoot(key, value, exists)
	if err != nil {
		return err
	}
	if len(root) != HashSize || Hash(root) != h {
		return fmt.Errorf("%w: root %x, proof leads to %x", ErrProof, root, h)
	}
	return nil
}

// proofVersion is the first byte of an encoded proof.
const proofVersion = 1

// Encode is the proof's canonical binary form: version(1) ‖ depth(2, big
// endian) ‖ bitmap of non-empty siblings (⌈depth/8⌉ bytes, root first,
// most significant bit first) ‖ the non-empty siblings ‖ leaf flag(1) ‖
// [path ‖ value hash].
func (p Proof) Encode() []byte {
	depth := len(p.Siblings)
	bitmap := make([]byte, (depth+7)/8)
	out := []byte{proofVersion}
	out = binary.BigEndian.AppendUint16(out, uint16(depth))
	var hashes []byte
	for i, s := range p.Siblings {
		if s != emptyHash {
			bitmap[i/8] |= 0x80 >> (i % 8)
			hashes = append(hashes, s[:]...)
		}
	}
	out = append(append(out, bitmap...), hashes...)
	if p.Leaf == nil {
		return append(out, 0)
	}
	out = append(out, 1)
	out = append(out, p.Leaf.Path[:]...)
	return append(out, p.Leaf.ValueHash[:]...)
}

// DecodeProof parses Encode's form strictly: one encoding per proof.
func DecodeProof(b []byte) (Proof, error) {
	bad := func(why string) (Proof, error) { return Proof{}, fmt.Errorf("%w: %s", ErrProof, why) }
	if len(b) < 3 || b[0] != proofVersion {
		return bad("unknown encoding")
	}
	depth := int(binary.BigEndian.Uint16(b[1:]))
	if depth > maxDepth {
		return bad("too deep")
	}
	b = b[3:]
	nb := (depth + 7) / 8
	if len(b) < nb {
		return bad("truncated")
	}
	bitmap, b := b[:nb], b[nb:]
	if depth%8 != 0 && bitmap[nb-1]&(0xff>>(depth%8)) != 0 {
		return bad("bitmap padding set")
	}
	p := Proof{Siblings: make([]Hash, depth)}
	for i := range depth {
		if bitmap[i/8]&(0x80>>(i%8)) == 0 {
			continue
		}
		if len(b) < HashSize {
			return bad("truncated")
		}
		p.Siblings[i] = Hash(b[:HashSize])
		if p.Siblings[i] == emptyHash {
			return bad("empty sibling marked present")
		}
		b = b[HashSize:]
	}
	switch {
	case len(b) == 1 && b[0] == 0:
	case len(b) == 1+2*HashSize && b[0] == 1:
		p.Leaf = &ProofLeaf{Path: Hash(b[1 : 1+HashSize]), ValueHash: Hash(b[1+HashSize:])}
	default:
		return bad("bad leaf or trailing data")
	}
	return p, nil
}
