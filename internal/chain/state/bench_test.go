package state

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"testing"
)

// benchState is n keys shaped like account keys with 16-byte values.
func benchState(n int) map[string][]byte {
	kv := make(map[string][]byte, n)
	for i := range n {
		kv[fmt.Sprintf("acct/%020d", i)] = binary.BigEndian.AppendUint64(make([]byte, 8), uint64(i))
	}
	return kv
}

// block is 1000 changes: 900 updates of existing keys, 100 new keys.
func block(n, round int) []Change {
	ch := make([]Change, 0, 1000)
	for j := range 900 {
		k := (round*7919 + j*104729) % n
		ch = append(ch, Change{Key: fmt.Appendf(nil, "acct/%020d", k), Value: binary.BigEndian.AppendUint64(make([]byte, 8), uint64(round))})
	}
	for j := range 100 {
		ch = append(ch, Change{Key: fmt.Appendf(nil, "new/%d/%d", round, j), Value: []byte("v")})
	}
	return ch
}

// BenchmarkUpdate1kOver100k: one block's hashing, 1,000 changed keys in a
// 100,000-key state.
func BenchmarkUpdate1kOver100k(b *testing.B) {
	const n = 100_000
	tr := Build(benchState(n))
	blocks := make([][]Change, 64)
	for i := range blocks {
		blocks[i] = block(n, i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = tr.Update(blocks[i%len(blocks)]).Root()
	}
}

// BenchmarkBuild100k: rebuilding the tree over 100,000 keys (node start,
// state-sync restore).
func BenchmarkBuild100k(b *testing.B) {
	kv := benchState(100_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = Build(kv).Root()
	}
}

// BenchmarkLegacyRehash100k is what the app did per block before this
// store: sort every key and hash the whole sorted Merkle tree.
func BenchmarkLegacyRehash100k(b *testing.B) {
	kv := benchState(100_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		keys := make([]string, 0, len(kv))
		for k := range kv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		leaves := make([][]byte, len(keys))
		for j, k := range keys {
			h := sha256.New()
			h.Write([]byte{0, byte(len(k))})
			h.Write([]byte(k))
			h.Write([]byte{byte(len(kv[k]))})
			h.Write(kv[k])
			leaves[j] = h.Sum(nil)
		}
		_ = legacyRoot(leaves)
	}
}

func legacyRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return nil
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := legacyRoot(leaves[:k]), legacyRoot(leaves[k:])
	h := InnerHash(Hash(l), Hash(r))
	return h[:]
}

func BenchmarkProve100k(b *testing.B) {
	tr := Build(benchState(100_000))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = tr.Prove(fmt.Appendf(nil, "acct/%020d", i%100_000)).Encode()
	}
}

func BenchmarkVerify100k(b *testing.B) {
	kv := benchState(100_000)
	tr := Build(kv)
	root := tr.Root()
	const m = 1024
	keys, vals, proofs := make([][]byte, m), make([][]byte, m), make([][]byte, m)
	for i := range m {
		keys[i] = fmt.Appendf(nil, "acct/%020d", i*97)
		vals[i] = kv[string(keys[i])]
		proofs[i] = tr.Prove(keys[i]).Encode()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := DecodeProof(proofs[i%m])
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Verify(root, keys[i%m], vals[i%m], true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProofSize100k reports the proof size at 100k keys (for the docs).
func TestProofSize100k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100k-key tree")
	}
	tr := Build(benchState(100_000))
	total, depth := 0, 0
	for i := range 1000 {
		p := tr.Prove(fmt.Appendf(nil, "acct/%020d", i*97))
		total += len(p.Encode())
		depth += len(p.Siblings)
	}
	t.Logf("100k keys: mean proof %d bytes, mean depth %.1f", total/1000, float64(depth)/1000)
}
