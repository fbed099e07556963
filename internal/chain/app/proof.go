package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// ProofOpType names our proofs in CometBFT ProofOps: RFC 6962 audit paths
// in the sorted-key Merkle tree whose root is the app hash.
const ProofOpType = "vimana/sorted-merkle/v1"

// ProofLeaf is one leaf of the tree with its audit path.
type ProofLeaf struct {
	Index int      `json:"index"`
	Key   []byte   `json:"key"`
	Value []byte   `json:"value"`
	Path  [][]byte `json:"path"`
}

// Proof shows that a key has a value (one leaf: the key's) or has none
// (the leaves just before and after where it would sort).
type Proof struct {
	Total  int         `json:"total"`
	Leaves []ProofLeaf `json:"leaves"`
}

// prove builds the proof for key over committed state. Caller holds a.mu.
func (a *App) prove(key string) Proof {
	keys := make([]string, 0, len(a.state.base))
	for k := range a.state.base {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	leaves := make([][]byte, len(keys))
	for i, k := range keys {
		leaves[i] = leafHash([]byte(k), a.state.base[k])
	}
	p := Proof{Total: len(keys)}
	leaf := func(i int) ProofLeaf {
		return ProofLeaf{Index: i, Key: []byte(keys[i]), Value: a.state.base[keys[i]], Path: auditPath(i, leaves)}
	}
	j := sort.SearchStrings(keys, key)
	if j < len(keys) && keys[j] == key {
		p.Leaves = []ProofLeaf{leaf(j)}
		return p
	}
	if j > 0 {
		p.Leaves = append(p.Leaves, leaf(j-1))
	}
	if j < len(keys) {
		p.Leaves = append(p.Leaves, leaf(j))
	}
	return p
}

// auditPath is RFC 6962's PATH(m, D[n]).
func auditPath(m int, leaves [][]byte) [][]byte {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := 1
	for k*2 < n {
		k *= 2
	}
	if m < k {
		return append(auditPath(m, leaves[:k]), merkleRoot(leaves[k:]))
	}
	return append(auditPath(m-k, leaves[k:]), merkleRoot(leaves[:k]))
}

// rootFromPath recomputes the root from leaf m of n and its audit path.
func rootFromPath(m, n int, leaf []byte, path [][]byte) ([]byte, error) {
	if m < 0 || m >= n {
		return nil, fmt.Errorf("leaf %d of %d", m, n)
	}
	if n == 1 {
		if len(path) != 0 {
			return nil, errors.New("path too long")
		}
		return leaf, nil
	}
	if len(path) == 0 {
		return nil, errors.New("path too short")
	}
	k := 1
	for k*2 < n {
		k *= 2
	}
	last, rest := path[len(path)-1], path[:len(path)-1]
	if m < k {
		left, err := rootFromPath(m, k, leaf, rest)
		if err != nil {
			return nil, err
		}
		return innerHash(left, last), nil
	}
	right, err := rootFromPath(m-k, n-k, leaf, rest)
	if err != nil {
		return nil, err
	}
	return innerHash(last, right), nil
}

// VerifyProof checks p against root: that key has value, or, when value is
// nil, that key is absent. Any mismatch is an error.
func VerifyProof(root, key, value []byte, p Proof) error {
	check := func(l ProofLeaf) error {
		got, err := rootFromPath(l.Index, p.Total, leafHash(l.Key, l.Value), l.Path)
		if err != nil {
			return fmt.Errorf("proof: %v", err)
		}
		if !bytes.Equal(got, root) {
			return errors.New("proof: root does not match the app hash")
		}
		return nil
	}
	if value != nil {
		if len(p.Leaves) != 1 || !bytes.Equal(p.Leaves[0].Key, key) || !bytes.Equal(p.Leaves[0].Value, value) {
			return errors.New("proof: not an existence proof of this key and value")
		}
		return check(p.Leaves[0])
	}
	// Absence: the neighbours where key would sort, adjacent in the tree.
	if p.Total == 0 {
		if len(p.Leaves) != 0 || !bytes.Equal(root, merkleRoot(nil)) {
			return errors.New("proof: not an empty tree")
		}
		return nil
	}
	for _, l := range p.Leaves {
		if err := check(l); err != nil {
			return err
		}
		if bytes.Equal(l.Key, key) {
			return errors.New("proof: the key is present")
		}
	}
	switch len(p.Leaves) {
	case 1:
		l := p.Leaves[0]
		if (l.Index == 0 && bytes.Compare(key, l.Key) < 0) || (l.Index == p.Total-1 && bytes.Compare(key, l.Key) > 0) {
			return nil
		}
	case 2:
		a, b := p.Leaves[0], p.Leaves[1]
		if b.Index == a.Index+1 && bytes.Compare(a.Key, key) < 0 && bytes.Compare(key, b.Key) < 0 {
			return nil
		}
	}
	return errors.New("proof: neighbours do not bracket the key")
}

// EncodeProof and DecodeProof carry a Proof in a ProofOp's data.
func EncodeProof(p Proof) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // unreachable: plain fields
	}
	return b
}

// DecodeProof parses a ProofOp's data.
func DecodeProof(b []byte) (Proof, error) {
	var p Proof
	if len(b) > 1<<20 {
		return p, errors.New("proof: too large")
	}
	err := json.Unmarshal(b, &p)
	return p, err
}

// AccountKey is the state key of an account (for proofs).
func AccountKey(addr []byte) []byte { return append([]byte(prefixAccount), addr...) }

// DecodeAccount decodes an account's state value.
func DecodeAccount(b []byte) Account { return decodeAccount(b) }
