package state

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// refRoot is the root by definition, computed from the whole set: the
// subtree of a set with one key is its leaf, of none the zero hash, else
// the inner node over the split on the next bit.
func refRoot(kv map[string][]byte) Hash {
	type lf struct{ path, vh Hash }
	var leaves []lf
	for k, v := range kv {
		leaves = append(leaves, lf{KeyPath([]byte(k)), KeyPath(v)})
	}
	sort.Slice(leaves, func(i, j int) bool { return bytes.Compare(leaves[i].path[:], leaves[j].path[:]) < 0 })
	var rec func(depth int, ls []lf) Hash
	rec = func(depth int, ls []lf) Hash {
		switch len(ls) {
		case 0:
			return emptyHash
		case 1:
			return LeafHash(ls[0].path, ls[0].vh)
		}
		i := sort.Search(len(ls), func(i int) bool { return bit(&ls[i].path, depth) == 1 })
		return InnerHash(rec(depth+1, ls[:i]), rec(depth+1, ls[i:]))
	}
	return rec(0, leaves)
}

func randomKV(r *rand.Rand, n int) map[string][]byte {
	kv := map[string][]byte{}
	for len(kv) < n {
		kv[fmt.Sprintf("k/%d", r.IntN(10*n+10))] = fmt.Appendf(nil, "v%d", r.Uint64())
	}
	return kv
}

func TestRootMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 17, 500} {
		kv := randomKV(r, n)
		tr := Build(kv)
		if want := refRoot(kv); !bytes.Equal(tr.Root(), want[:]) {
			t.Fatalf("n=%d: root %x, want %x", n, tr.Root(), want)
		}
		if tr.Len() != n {
			t.Fatalf("n=%d: Len %d", n, tr.Len())
		}
	}
}

// TestHistoryIndependence: any sequence of batches reaching the same set
// gives the same root, and the old trees are untouched.
func TestHistoryIndependence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	kv := map[string][]byte{}
	var tr Tree
	var old []Tree
	var oldRoots [][]byte
	for round := range 60 {
		var batch []Change
		for range r.IntN(40) + 1 {
			k := fmt.Sprintf("k/%d", r.IntN(300))
			switch r.IntN(4) {
			case 0:
				batch = append(batch, Change{Key: []byte(k)}) // delete, maybe absent
				delete(kv, k)
			default:
				v := fmt.Appendf(nil, "v%d", r.IntN(5)) // often rewrites the same value
				batch = append(batch, Change{Key: []byte(k), Value: v})
				kv[k] = v
			}
		}
		old, oldRoots = append(old, tr), append(oldRoots, tr.Root())
		tr = tr.Update(batch)
		want := refRoot(kv)
		if !bytes.Equal(tr.Root(), want[:]) || tr.Len() != len(kv) {
			t.Fatalf("round %d: root %x len %d, want %x len %d", round, tr.Root(), tr.Len(), want, len(kv))
		}
	}
	for i := range old {
		if !bytes.Equal(old[i].Root(), oldRoots[i]) {
			t.Fatalf("tree %d changed after later updates", i)
		}
	}
	// Deleting everything gives the empty root.
	var all []Change
	for k := range kv {
		all = append(all, Change{Key: []byte(k)})
	}
	if e := tr.Update(all); !bytes.Equal(e.Root(), make([]byte, HashSize)) || e.Len() != 0 {
		t.Fatalf("emptied tree: root %x len %d", e.Root(), e.Len())
	}
}

func TestLastChangeWins(t *testing.T) {
	a := Tree{}.Update([]Change{{Key: []byte("x"), Value: []byte("1")}, {Key: []byte("x"), Value: []byte("2")}})
	b := Tree{}.Update([]Change{{Key: []byte("x"), Value: []byte("2")}})
	c := Tree{}.Update([]Change{{Key: []byte("x"), Value: []byte("1")}, {Key: []byte("x")}})
	if !bytes.Equal(a.Root(), b.Root()) || c.Len() != 0 {
		t.Fatalf("duplicates in one batch: %x vs %x, len after set+delete %d", a.Root(), b.Root(), c.Len())
	}
}

// TestGoldenRoot pins the hash format: changing it changes every app hash.
func TestGoldenRoot(t *testing.T) {
	tr := Tree{}.Update([]Change{
		{Key: []byte("acct/alice"), Value: []byte{0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 1}},
		{Key: []byte("chain_id"), Value: []byte("vimana-1")},
		{Key: []byte("supply"), Value: []byte{0, 0, 0, 0, 0, 0, 0, 100}},
	})
	const want = "9c8bf70807a83cef24a6a13e4d521f1888573931237fcd59f6c993307a7ac692"
	if got := hex.EncodeToString(tr.Root()); got != want {
		t.Fatalf("root %s, want %s", got, want)
	}
}
