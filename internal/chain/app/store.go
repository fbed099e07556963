package app

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Store persists committed state. The application keeps every value in
// memory (and the Merkle tree over them, rebuilt on load and checked
// against the stored app hash) and hands the store each block's changes in
// Commit; the store applies them atomically together with the block height
// and app hash, and takes a state-sync snapshot when one is due.
type Store interface {
	// Load returns every committed key/value pair and the last committed
	// height and app hash (0 and nil for a fresh store).
	Load() (kv map[string][]byte, height int64, appHash []byte, err error)
	// Commit applies changes (a nil value deletes) atomically.
	Commit(changes map[string][]byte, height int64, appHash []byte) error
	// Restore replaces all state atomically (state sync).
	Restore(kv map[string][]byte, height int64, appHash []byte) error
	// SetSnapshots makes Commit take snapshots into s (nil: none).
	SetSnapshots(s *Snapshots)
	// Snapshots is what SetSnapshots set.
	Snapshots() *Snapshots
	Close() error
}

// MemStore is a Store that keeps nothing on disk, for tests.
type MemStore struct {
	kv      map[string][]byte
	height  int64
	appHash []byte
	snaps   *Snapshots
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore { return &MemStore{kv: map[string][]byte{}} }

// Load implements Store.
func (m *MemStore) Load() (map[string][]byte, int64, []byte, error) {
	out := make(map[string][]byte, len(m.kv))
	for k, v := range m.kv {
		out[k] = v
	}
	return out, m.height, m.appHash, nil
}

// Commit implements Store.
func (m *MemStore) Commit(changes map[string][]byte, height int64, appHash []byte) error {
	for k, v := range changes {
		if v == nil {
			delete(m.kv, k)
		} else {
			m.kv[k] = v
		}
	}
	m.height, m.appHash = height, appHash
	if m.snaps.due(height) && m.snaps.start() {
		m.snaps.done(m.snaps.write(uint64(height), appHash, func(fn func(k, v []byte) error) error {
			for _, k := range slices.Sorted(maps.Keys(m.kv)) {
				if err := fn([]byte(k), m.kv[k]); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return nil
}

// Restore implements Store.
func (m *MemStore) Restore(kv map[string][]byte, height int64, appHash []byte) error {
	m.kv = maps.Clone(kv)
	m.height, m.appHash = height, appHash
	return nil
}

// SetSnapshots implements Store.
func (m *MemStore) SetSnapshots(s *Snapshots) { m.snaps = s }

// Snapshots implements Store.
func (m *MemStore) Snapshots() *Snapshots { return m.snaps }

// Close implements Store.
func (m *MemStore) Close() error { return nil }

var (
	bucketState = []byte("state")
	bucketMeta  = []byte("meta")
	keyHeight   = []byte("height")
	keyAppHash  = []byte("app_hash")
)

// BoltStore is a Store in one bbolt file: bucket "state" holds the flat
// key/value pairs, bucket "meta" the height and app hash, all written in
// one transaction per block, so a crash leaves either block on disk.
type BoltStore struct {
	db      *bolt.DB
	snaps   *Snapshots
	writing sync.WaitGroup // snapshots being written
}

// OpenBoltStore opens (creating if needed) the store at path.
func OpenBoltStore(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return nil, fmt.Errorf("opening app state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err1 := tx.CreateBucketIfNotExists(bucketState)
		_, err2 := tx.CreateBucketIfNotExists(bucketMeta)
		return errors.Join(err1, err2)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening app state %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// Load implements Store.
func (s *BoltStore) Load() (map[string][]byte, int64, []byte, error) {
	kv := map[string][]byte{}
	var height int64
	var appHash []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketState).ForEach(func(k, v []byte) error {
			kv[string(k)] = append([]byte(nil), v...)
			return nil
		})
		if err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if h := meta.Get(keyHeight); len(h) == 8 {
			height = int64(binary.BigEndian.Uint64(h))
		}
		appHash = append([]byte(nil), meta.Get(keyAppHash)...)
		return nil
	})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("loading app state: %w", err)
	}
	if height == 0 {
		appHash = nil
	}
	return kv, height, appHash, nil
}

// Commit implements Store.
func (s *BoltStore) Commit(changes map[string][]byte, height int64, appHash []byte) error {
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	sort.Strings(keys) // sequential bbolt writes are cheaper in key order
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		for _, k := range keys {
			var err error
			if v := changes[k]; v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		return putMeta(tx, height, appHash)
	})
	if err != nil {
		return fmt.Errorf("committing app state at height %d: %w", height, err)
	}
	if s.snaps.due(height) && s.snaps.start() {
		// A read transaction sees exactly the state just committed, however
		// many blocks commit while the snapshot is written, so the chain
		// does not wait for it. (A commit that must grow the file waits
		// for open read transactions: bbolt remaps it.)
		tx, err := s.db.Begin(false)
		if err != nil {
			s.snaps.done(fmt.Errorf("snapshot at height %d: %w", height, err))
			return nil
		}
		s.writing.Add(1)
		go func() {
			defer s.writing.Done()
			defer tx.Rollback()
			s.snaps.done(s.snaps.write(uint64(height), appHash, func(fn func(k, v []byte) error) error {
				return tx.Bucket(bucketState).ForEach(fn)
			}))
		}()
	}
	return nil
}

// WaitSnapshots returns once no snapshot is being written.
func (s *BoltStore) WaitSnapshots() { s.writing.Wait() }

func putMeta(tx *bolt.Tx, height int64, appHash []byte) error {
	meta := tx.Bucket(bucketMeta)
	h := binary.BigEndian.AppendUint64(nil, uint64(height))
	return errors.Join(meta.Put(keyHeight, h), meta.Put(keyAppHash, appHash))
}

// Restore implements Store.
func (s *BoltStore) Restore(kv map[string][]byte, height int64, appHash []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketState); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bucketState)
		if err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			if err := b.Put([]byte(k), kv[k]); err != nil {
				return err
			}
		}
		return putMeta(tx, height, appHash)
	})
	if err != nil {
		return fmt.Errorf("restoring app state at height %d: %w", height, err)
	}
	return nil
}

// SetSnapshots implements Store.
func (s *BoltStore) SetSnapshots(sn *Snapshots) { s.snaps = sn }

// Snapshots implements Store.
func (s *BoltStore) Snapshots() *Snapshots { return s.snaps }

// Close implements Store.
// Close waits for a snapshot being written, then closes the file.
func (s *BoltStore) Close() error {
	s.writing.Wait()
	return s.db.Close()
}
