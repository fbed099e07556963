package spacecore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	bolt "go.etcd.io/bbolt"
)

// The database holds one JSON record per spacecore and a (owner, name) ->
// id index that keeps names unique per owner. Every change is one bbolt
// transaction (fsynced on commit), made before the supervisor acts on the
// provider.
var (
	bucketRecords = []byte("spacecores")
	bucketNames   = []byte("names")
	bucketMeta    = []byte("meta")
	keyVersion    = []byte("version")
)

const storeVersion = "1"

type store struct {
	db *bolt.DB
}

func openStore(path string) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening spacecore database: %w", err)
	}
	// 0600: records hold the workloads' environment, which may carry
	// secrets. The timeout turns a second daemon on the same home into an
	// error instead of a hang.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening spacecore database %s: %w: locked by another process", path, hypercore.ErrUnavailable)
		}
		return nil, fmt.Errorf("opening spacecore database %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketNames, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyVersion); {
		case v == nil:
			return meta.Put(keyVersion, []byte(storeVersion))
		case string(v) != storeVersion:
			return fmt.Errorf("%w: database version %q, this binary reads %q", hypercore.ErrInvalid, v, storeVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening spacecore database %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

func nameKey(owner, name string) []byte { return []byte(owner + "\x00" + name) }

func (s *store) load() ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("loading spacecores: %w", err)
	}
	return out, nil
}

// insert adds a new record; its (owner, name) must be free.
func (s *store) insert(r *Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketNames)
		if id := names.Get(nameKey(r.Owner, r.Name)); id != nil {
			return fmt.Errorf("%w: spacecore name %q is taken by %s", hypercore.ErrAlreadyExists, r.Name, id)
		}
		recs := tx.Bucket(bucketRecords)
		if recs.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("%w: spacecore %s", hypercore.ErrAlreadyExists, r.ID)
		}
		if err := names.Put(nameKey(r.Owner, r.Name), []byte(r.ID)); err != nil {
			return err
		}
		return recs.Put([]byte(r.ID), v)
	})
}

// update replaces an existing record; a removed record is not revived.
func (s *store) update(r *Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		if recs.Get([]byte(r.ID)) == nil {
			return fmt.Errorf("spacecore %s: %w", r.ID, hypercore.ErrNotFound)
		}
		return recs.Put([]byte(r.ID), v)
	})
}

// remove deletes a record and its name.
func (s *store) remove(r *Record) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketNames)
		if id := names.Get(nameKey(r.Owner, r.Name)); string(id) == r.ID {
			if err := names.Delete(nameKey(r.Owner, r.Name)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketRecords).Delete([]byte(r.ID))
	})
}
