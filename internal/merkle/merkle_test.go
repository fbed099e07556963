package merkle

import (
	"bytes"
	"fmt"
	"testing"
)

func blob(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestProofsVerify(t *testing.T) {
	for _, n := range []int{0, 1, LeafSize - 1, LeafSize, LeafSize + 1, 3 * LeafSize, 5*LeafSize + 17, GroupSize - 1, GroupSize, GroupSize + 1, 64 * LeafSize, 300*LeafSize + 5, 5<<20 + 7} {
		b := blob(n)
		root := Root(b)
		treeRoot, out := Tree(b)
		if !bytes.Equal(treeRoot, root) {
			t.Fatalf("size %d: the tree's root %x is not BLAKE3's hash %x", n, treeRoot, root)
		}
		if uint64(len(out)) != Groups(uint64(n))*HashSize {
			t.Fatalf("size %d: outline of %d bytes", n, len(out))
		}
		// Streamed in uneven writes, the Builder agrees with Tree.
		var bld Builder
		widths := []int{1, 7, LeafSize - 1, LeafSize + 1, GroupSize - 3, GroupSize, GroupSize + 5, 3*GroupSize + 11}
		for rest, w := b, 0; len(rest) > 0; w++ {
			c := min(widths[w%len(widths)], len(rest))
			bld.Write(rest[:c])
			rest = rest[c:]
		}
		if r2, out2 := bld.Sum(); !bytes.Equal(r2, root) || !bytes.Equal(out2, out) || bld.Size() != uint64(n) {
			t.Fatalf("size %d: the Builder's root or outline differs from Tree's", n)
		}
		leaves := Leaves(uint64(n))
		step := max(1, leaves/97) // every leaf of small blobs, a spread of big ones
		for i := uint64(0); i < leaves; i += step {
			path, err := Proof(b, i)
			if err != nil {
				t.Fatal(err)
			}
			off := i * LeafSize
			leaf := b[off : off+LeafLen(uint64(n), i)]
			if leaves > 1 && len(path) == 0 {
				t.Fatalf("size %d leaf %d: empty path", n, i)
			}
			if !Verify(root, uint64(n), i, leaf, path) {
				t.Fatalf("size %d leaf %d: valid proof refused", n, i)
			}
			if len(leaf) > 0 {
				bad := bytes.Clone(leaf)
				bad[0] ^= 1
				if Verify(root, uint64(n), i, bad, path) {
					t.Fatalf("size %d leaf %d: altered leaf accepted", n, i)
				}
			}
			if leaves > 1 {
				if Verify(root, uint64(n), (i+1)%leaves, leaf, path) && !bytes.Equal(leaf, b[((i+1)%leaves)*LeafSize:][:len(leaf)]) {
					t.Fatalf("size %d leaf %d: proof accepted at another index", n, i)
				}
				if Verify(root, uint64(n), i, leaf, path[:len(path)-1]) {
					t.Fatalf("size %d leaf %d: short path accepted", n, i)
				}
				if Verify(root, uint64(n), i, leaf, append(path, path[0])) {
					t.Fatalf("size %d leaf %d: long path accepted", n, i)
				}
			}
		}
		if _, err := Proof(b, leaves); err == nil {
			t.Fatalf("size %d: proof past the end", n)
		}
	}
}

func TestVerifyRejectsGarbage(t *testing.T) {
	b := blob(4 * LeafSize)
	root := Root(b)
	path, _ := Proof(b, 1)
	if Verify(root[:31], uint64(len(b)), 1, b[LeafSize:2*LeafSize], path) {
		t.Fatal("short root accepted")
	}
	if Verify(root, uint64(len(b)), 1, b[LeafSize:2*LeafSize-1], path) {
		t.Fatal("short leaf accepted")
	}
	path[0] = path[0][:31]
	if Verify(root, uint64(len(b)), 1, b[LeafSize:2*LeafSize], path) {
		t.Fatal("short sibling accepted")
	}
}

// TestRootIsBLAKE3 pins the root to the BLAKE3 reference vector for the
// empty input: the audit tree is BLAKE3's, not a tree of our own.
func TestRootIsBLAKE3(t *testing.T) {
	const empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	if got := fmt.Sprintf("%x", Root(nil)); got != empty {
		t.Fatalf("Root(empty) = %s, want %s", got, empty)
	}
	if r, _ := Tree(nil); fmt.Sprintf("%x", r) != empty {
		t.Fatalf("Tree(empty) root = %x", r)
	}
	if !Verify(Root(nil), 0, 0, nil, nil) {
		t.Fatal("empty blob's only leaf refused")
	}
}

func TestProofFromOutlineRefusesWrongGroup(t *testing.T) {
	b := blob(3*GroupSize + 100)
	_, out := Tree(b)
	off, l := GroupSpan(uint64(len(b)), 1)
	g := bytes.Clone(b[off : off+l])
	g[5] ^= 1 // a leaf rotted on disk: the group no longer matches the outline
	if _, err := ProofFromOutline(out, uint64(len(b)), g, GroupLeaves+3); err == nil {
		t.Fatal("proof built from a corrupt group")
	}
	if _, err := ProofFromOutline(out[:len(out)-1], uint64(len(b)), b[off:off+l], GroupLeaves+3); err == nil {
		t.Fatal("proof built from a short outline")
	}
	if _, err := ProofFromOutline(out, uint64(len(b)), b[off:off+l-1], GroupLeaves+3); err == nil {
		t.Fatal("proof built from a short group")
	}
}

func BenchmarkTree16MiB(b *testing.B) {
	data := blob(16 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Tree(data)
	}
}

func BenchmarkRoot16MiB(b *testing.B) {
	data := blob(16 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Root(data)
	}
}
