package state

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
)

func TestProofs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 300} {
		kv := randomKV(r, n)
		tr := Build(kv)
		root := tr.Root()
		for k, v := range kv {
			p := tr.Prove([]byte(k))
			if !p.Exists([]byte(k)) {
				t.Fatalf("n=%d: %s: not an existence proof", n, k)
			}
			if err := p.Verify(root, []byte(k), v, true); err != nil {
				t.Fatalf("n=%d: %s: %v", n, k, err)
			}
			if p.Verify(root, []byte(k), append(bytes.Clone(v), 'x'), true) == nil {
				t.Fatalf("n=%d: %s: wrong value verified", n, k)
			}
			if p.Verify(root, []byte(k), nil, false) == nil {
				t.Fatalf("n=%d: %s: existence proof verified as absence", n, k)
			}
			q, err := DecodeProof(p.Encode())
			if err != nil || q.Verify(root, []byte(k), v, true) != nil {
				t.Fatalf("n=%d: %s: round trip: %v", n, k, err)
			}
		}
		sawLeaf, sawEmpty := false, false
		for i := range 200 {
			k := []byte(fmt.Sprintf("absent/%d", i))
			p := tr.Prove(k)
			if p.Exists(k) {
				t.Fatalf("n=%d: %s: absent key proved present", n, k)
			}
			sawLeaf, sawEmpty = sawLeaf || p.Leaf != nil, sawEmpty || p.Leaf == nil
			if err := p.Verify(root, k, nil, false); err != nil {
				t.Fatalf("n=%d: %s: %v", n, k, err)
			}
			if p.Verify(root, k, []byte{}, true) == nil {
				t.Fatalf("n=%d: %s: absence proof verified as existence", n, k)
			}
		}
		if n == 300 && (!sawLeaf || !sawEmpty) {
			t.Fatalf("absence proofs: ended at a leaf %v, at an empty subtree %v: both kinds should occur", sawLeaf, sawEmpty)
		}
	}
}

// TestTamperedProof: flipping any bit of an encoded proof either fails to
// decode or fails to verify.
func TestTamperedProof(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	kv := randomKV(r, 1000)
	tr := Build(kv)
	root := tr.Root()
	check := func(key, value []byte, exists bool) {
		enc := tr.Prove(key).Encode()
		for i := range len(enc) * 8 {
			bad := bytes.Clone(enc)
			bad[i/8] ^= 0x80 >> (i % 8)
			p, err := DecodeProof(bad)
			if err == nil {
				err = p.Verify(root, key, value, exists)
			}
			if err == nil {
				t.Fatalf("%s: bit %d flipped, proof still verifies", key, i)
			}
			if !errors.Is(err, ErrProof) {
				t.Fatalf("error %v is not ErrProof", err)
			}
		}
	}
	for k, v := range kv {
		check([]byte(k), v, true)
		break
	}
	check([]byte("absent"), nil, false)
	if _, err := DecodeProof(append(tr.Prove([]byte("absent")).Encode(), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestProofOps(t *testing.T) {
	tr := Tree{}.Update([]Change{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}, {Key: []byte("c"), Value: []byte("3")}})
	root := tr.Root()
	ops := func(key string) *cmtcrypto.ProofOps {
		op := ProofOp{Key: []byte(key), Proof: tr.Prove([]byte(key))}.ProofOp()
		return &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{op}}
	}
	if err := VerifyOps(ops("b"), root, []byte("b"), []byte("2"), true); err != nil {
		t.Fatal(err)
	}
	if err := VerifyOps(ops("zz"), root, []byte("zz"), nil, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		ops        *cmtcrypto.ProofOps
		key, value string
		exists     bool
		root       []byte
	}{
		{"wrong value", ops("b"), "b", "3", true, root},
		{"other key's proof", ops("a"), "b", "2", true, root},
		{"absence of a present key", ops("b"), "b", "", false, root},
		{"existence of an absent key", ops("zz"), "zz", "", true, root},
		{"other root", ops("b"), "b", "2", true, bytes.Repeat([]byte{1}, 32)},
		{"no ops", &cmtcrypto.ProofOps{}, "b", "2", true, root},
	} {
		if err := VerifyOps(c.ops, c.root, []byte(c.key), []byte(c.value), c.exists); !errors.Is(err, ErrProof) {
			t.Errorf("%s: %v, want ErrProof", c.name, err)
		}
	}
}

func FuzzDecodeProof(f *testing.F) {
	tr := Build(randomKV(rand.New(rand.NewPCG(9, 9)), 100))
	f.Add(tr.Prove([]byte("x")).Encode())
	f.Add(tr.Prove([]byte("k/1")).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeProof(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Fatalf("decode/encode not canonical: %x", b)
		}
	})
}

// An empty value is present, not absent: the two proofs differ.
func TestEmptyValue(t *testing.T) {
	tr := Tree{}.Update([]Change{{Key: []byte("e"), Value: []byte{}}, {Key: []byte("f"), Value: []byte("1")}})
	p := tr.Prove([]byte("e"))
	if tr.Len() != 2 || p.Verify(tr.Root(), []byte("e"), nil, true) != nil {
		t.Fatal("empty value not provably present")
	}
	if p.Verify(tr.Root(), []byte("e"), nil, false) == nil {
		t.Fatal("present empty value verified as absent")
	}
}
