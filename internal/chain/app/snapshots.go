package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
)

// SnapshotFormat is the only snapshot format: the committed key/value
// pairs in key order, each record uvarint(len key) ‖ key ‖ uvarint(len
// value) ‖ value, cut into chunks of about ChunkSize bytes. The snapshot's
// metadata is the SHA-256 of each chunk, concatenated; its hash is the
// SHA-256 of the metadata.
const SnapshotFormat = 1

// DefaultSnapshotChunkSize keeps chunks well under CometBFT's 16 MiB
// statesync message limit.
const DefaultSnapshotChunkSize = 4 << 20

// Snapshots is a directory of state-sync snapshots: one subdirectory per
// height holding manifest.json and the chunk files, written under a
// temporary name and renamed into place, so a crash never leaves a partial
// snapshot that ListSnapshots would offer.
type Snapshots struct {
	Dir       string
	Interval  int64 // take one after committing each height divisible by Interval; 0: never
	Keep      int   // newest snapshots kept; 0 means 2
	ChunkSize int   // 0 means DefaultSnapshotChunkSize

	mu     sync.Mutex
	err    error // last failure taking a snapshot
	taking bool  // a snapshot is being written
}

type manifest struct {
	Height   uint64 `json:"height"`
	Format   uint32 `json:"format"`
	Chunks   uint32 `json:"chunks"`
	Hash     []byte `json:"hash"`
	Metadata []byte `json:"metadata"`
	AppHash  []byte `json:"app_hash"`
}

func (s *Snapshots) due(height int64) bool {
	return s != nil && s.Interval > 0 && height > 0 && height%s.Interval == 0
}

// Err is the last error taking a snapshot, if any. Taking a snapshot never
// fails a Commit: the chain goes on and the next interval tries again.
func (s *Snapshots) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Snapshots) dirOf(height uint64) string {
	return filepath.Join(s.Dir, fmt.Sprintf("%020d", height))
}

// start claims the right to write a snapshot; false while another one is
// still being written (that interval is skipped).
func (s *Snapshots) start() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taking {
		return false
	}
	s.taking = true
	return true
}

// done ends a snapshot started with start: it records err and prunes old
// snapshots.
func (s *Snapshots) done(err error) {
	if err == nil {
		err = s.prune()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err, s.taking = err, false
}

// write writes the snapshot of the state that each walks (in key order)
// as of height. Only one runs at a time (start); readers of the directory
// see only complete snapshots (rename).
func (s *Snapshots) write(height uint64, appHash []byte, each func(func(k, v []byte) error) error) error {
	size := s.ChunkSize
	if size <= 0 {
		size = DefaultSnapshotChunkSize
	}
	final := s.dirOf(height)
	if _, err := os.Stat(final); err == nil {
		return nil // already taken (a replayed block)
	}
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	var (
		metadata []byte
		buf      []byte
		n        uint32
	)
	flush := func() error {
		sum := sha256.Sum256(buf)
		metadata = append(metadata, sum[:]...)
		if err := writeFileSync(filepath.Join(tmp, chunkName(n)), buf); err != nil {
			return err
		}
		n++
		buf = buf[:0]
		return nil
	}
	err := each(func(k, v []byte) error {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
		if len(buf) >= size {
			return flush()
		}
		return nil
	})
	if err == nil && (len(buf) > 0 || n == 0) {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("snapshot at height %d: %w", height, err)
	}
	hash := sha256.Sum256(metadata)
	m, err := json.Marshal(manifest{Height: height, Format: SnapshotFormat, Chunks: n, Hash: hash[:], Metadata: metadata, AppHash: appHash})
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(tmp, "manifest.json"), m); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}

func chunkName(i uint32) string { return fmt.Sprintf("chunk-%06d", i) }

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Sync(), f.Close())
}

// heights lists the complete snapshots' heights, oldest first.
func (s *Snapshots) heights() ([]uint64, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		if h, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && e.IsDir() && len(e.Name()) == 20 {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (s *Snapshots) prune() error {
	keep := s.Keep
	if keep <= 0 {
		keep = 2
	}
	hs, err := s.heights()
	if err != nil {
		return err
	}
	var errs []error
	for len(hs) > keep {
		errs = append(errs, os.RemoveAll(s.dirOf(hs[0])))
		hs = hs[1:]
	}
	return errors.Join(errs...)
}

func (s *Snapshots) manifest(height uint64) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(s.dirOf(height), "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("snapshot %d manifest: %w", height, err)
	}
	return &m, nil
}

// List returns the snapshots on disk, newest first.
func (s *Snapshots) List() ([]*abci.Snapshot, error) {
	hs, err := s.heights()
	if err != nil {
		return nil, err
	}
	var out []*abci.Snapshot
	for i := len(hs) - 1; i >= 0; i-- {
		m, err := s.manifest(hs[i])
		if err != nil {
			continue // removed meanwhile or damaged: offer the others
		}
		out = append(out, &abci.Snapshot{Height: m.Height, Format: m.Format, Chunks: m.Chunks, Hash: m.Hash, Metadata: m.Metadata})
	}
	return out, nil
}

// chunk reads one chunk, nil if it does not exist.
func (s *Snapshots) chunk(height uint64, format, index uint32) []byte {
	if format != SnapshotFormat {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(s.dirOf(height), chunkName(index)))
	if err != nil {
		return nil
	}
	return b
}

// restore is a state sync in progress: the accepted snapshot and the
// pairs of the chunks applied so far.
type restore struct {
	snapshot *abci.Snapshot
	appHash  []byte
	next     uint32 // index of the next chunk
	kv       map[string][]byte
	lastKey  []byte
}

// decodeChunk appends a chunk's records to r, refusing keys out of order.
func (r *restore) decodeChunk(b []byte) error {
	for len(b) > 0 {
		k, rest, err := cutField(b)
		if err != nil {
			return err
		}
		v, rest, err := cutField(rest)
		if err != nil {
			return err
		}
		if r.lastKey != nil && bytes.Compare(k, r.lastKey) <= 0 {
			return errors.New("keys out of order")
		}
		r.lastKey = k
		r.kv[string(k)] = bytes.Clone(v)
		b = rest
	}
	return nil
}

func cutField(b []byte) (field, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, errors.New("truncated record")
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}
