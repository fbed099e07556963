package merkle

import (
	"bytes"
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
	for _, n := range []int{0, 1, LeafSize - 1, LeafSize, LeafSize + 1, 3 * LeafSize, 5*LeafSize + 17, 64 * LeafSize, 300 * LeafSize} {
		b := blob(n)
		root := Root(b)
		leaves := Leaves(uint64(n))
		for i := uint64(0); i < leaves; i++ {
			path, err := Proof(b, i)
			if err != nil {
				t.Fatal(err)
			}
			off := i * LeafSize
			leaf := b[off : off+LeafLen(uint64(n), i)]
			if p2, err := ProofFromLeaves(LeafHashes(b), i); err != nil || len(p2) != len(path) || (len(path) > 0 && string(p2[0]) != string(path[0])) {
				t.Fatalf("size %d leaf %d: proof from leaf hashes differs (%v)", n, i, err)
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
