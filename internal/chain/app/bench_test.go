package app

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
)

func benchKV(n int) map[string][]byte {
	kv := make(map[string][]byte, n)
	for i := range n {
		kv[fmt.Sprintf("acct/%020d", i)] = encodeAccount(Account{Balance: uint64(i), Nonce: 1})
	}
	return kv
}

// BenchmarkCommitBlock1kOver100k is one block's state work end to end:
// 1,000 changed keys (900 updated, 100 new) staged over a 100,000-key
// state, the new app hash, and the commit of the overlay and the bbolt
// transaction (fsynced) with height and app hash.
func BenchmarkCommitBlock1kOver100k(b *testing.B) {
	const n = 100_000
	store, err := OpenBoltStore(filepath.Join(b.TempDir(), "app.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	v := newView(map[string][]byte{})
	for k, val := range benchKV(n) {
		v.set(k, val)
	}
	if err := store.Commit(v.commit(), 1, v.hash()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round := i + 2
		for j := range 900 {
			k := (round*7919 + j*104729) % n
			v.set(fmt.Sprintf("acct/%020d", k), encodeAccount(Account{Balance: uint64(round), Nonce: uint64(j)}))
		}
		for j := range 100 {
			v.set(fmt.Sprintf("new/%d/%d", round, j), binary.BigEndian.AppendUint64(nil, uint64(j)))
		}
		hash := v.hash()
		if err := store.Commit(v.commit(), int64(round), hash); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot100k takes a state-sync snapshot of 100,000 keys from
// bbolt (4 MiB chunks, fsynced).
func BenchmarkSnapshot100k(b *testing.B) {
	store, err := OpenBoltStore(filepath.Join(b.TempDir(), "app.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	v := newView(benchKV(100_000))
	if err := store.Restore(v.base, 1, v.hash()); err != nil {
		b.Fatal(err)
	}
	s := &Snapshots{Dir: b.TempDir(), Interval: 1, Keep: 1}
	store.SetSnapshots(s)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := store.Commit(nil, int64(i+2), v.hash()); err != nil {
			b.Fatal(err)
		}
		store.WaitSnapshots()
		if err := s.Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad100k is a node start: read 100,000 keys from bbolt and
// rebuild and check the tree.
func BenchmarkLoad100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "app.db")
	store, err := OpenBoltStore(path)
	if err != nil {
		b.Fatal(err)
	}
	v := newView(benchKV(100_000))
	if err := store.Restore(v.base, 1, v.hash()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := New(store); err != nil {
			b.Fatal(err)
		}
	}
	store.Close()
}

// BenchmarkBoltCommit1kOver100k is the bbolt part of
// BenchmarkCommitBlock1kOver100k alone: the same writes, no tree.
func BenchmarkBoltCommit1kOver100k(b *testing.B) {
	const n = 100_000
	store, err := OpenBoltStore(filepath.Join(b.TempDir(), "app.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if err := store.Restore(benchKV(n), 1, make([]byte, 32)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round := i + 2
		changes := make(map[string][]byte, 1000)
		for j := range 900 {
			k := (round*7919 + j*104729) % n
			changes[fmt.Sprintf("acct/%020d", k)] = encodeAccount(Account{Balance: uint64(round), Nonce: uint64(j)})
		}
		for j := range 100 {
			changes[fmt.Sprintf("new/%d/%d", round, j)] = binary.BigEndian.AppendUint64(nil, uint64(j))
		}
		if err := store.Commit(changes, int64(round), make([]byte, 32)); err != nil {
			b.Fatal(err)
		}
	}
}
