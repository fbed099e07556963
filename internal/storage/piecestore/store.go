// Package piecestore is a provider's piece store: content-addressed pieces
// on disk (BLAKE3 ids, sharded directories), written crash-safely (temp
// file, fsync, rename, directory fsync), with capacity accounting, a
// signed receipt for every accepted piece, range reads, Merkle audit
// proofs, and garbage collection of pieces whose deals ended. Handler
// serves it over HTTP on the node API (uploads signed by the tenant key);
// Client is the remote storage.PieceStore the storage pipeline uses.
//
// It must not import internal/chain: the node wires the deal lookups
// (Authorize, GC's liveness function) from the chain client.
package piecestore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/merkle"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Errors; they wrap the storage errors where those fit.
var (
	ErrFull     = errors.New("piecestore: capacity exhausted")
	ErrNotFound = errors.New("piecestore: piece not found")
	ErrInvalid  = errors.New("piecestore: invalid request")
)

// MaxPiece bounds one piece (a 1 GiB segment's shard with k=1).
const MaxPiece = 1 << 30

// tmpPrefix marks files being written; Open removes leftovers.
const tmpPrefix = ".tmp-"

// ParseID validates a piece id: 64 lowercase hex digits (BLAKE3-256).
// Everything that builds a path from an id calls it first.
func ParseID(id string) error {
	if len(id) != 64 {
		return fmt.Errorf("%w: piece id %q: want 64 hex digits", ErrInvalid, trunc(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: piece id %q: want 64 lowercase hex digits", ErrInvalid, trunc(id))
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ID is the content address of data.
func ID(data []byte) string {
	return hex.EncodeToString(merkle.Root(data))
}

// Receipt is a provider's signed statement that it holds a piece for a
// deal: ed25519 over market.ReceiptBytes(deal, piece, size). The chain
// checks it when a repair moves a piece (market.RepairDeal).
type Receipt struct {
	Piece     string `json:"piece"`
	Size      uint64 `json:"size"`
	Deal      string `json:"deal"`
	Key       []byte `json:"key"` // provider's ed25519 public key
	Signature []byte `json:"signature"`
}

// Verify checks the signature and returns the provider's address.
func (r Receipt) Verify() (wallet.Address, bool) {
	if len(r.Key) != 32 {
		return wallet.Address{}, false
	}
	ok := wallet.Verify(r.Key, market.ReceiptDomain, market.ReceiptBytes(r.Deal, r.Piece, r.Size), r.Signature)
	return wallet.AddressOf(r.Key), ok
}

// meta is a piece's sidecar record.
type meta struct {
	Size  uint64          `json:"size"`
	Deals map[string]bool `json:"deals"` // deal id → true
	Added int64           `json:"added"` // unix seconds of the first put
}

// Store is a piece store on a directory:
//
//	<dir>/<id[0:2]>/<id[2:4]>/<id>       the piece
//	<dir>/<id[0:2]>/<id[2:4]>/<id>.tree  its Merkle outline (32 B per 16 KiB: 0.2% of the piece)
//	<dir>/<id[0:2]>/<id[2:4]>/<id>.json  its deals and size
type Store struct {
	dir      string
	capacity uint64
	key      *wallet.Key
	now      func() time.Time

	mu   sync.Mutex
	used uint64
	meta map[string]*meta
}

// Open opens (creating) the store at dir with capacity bytes, removing
// temporary files a crash left behind and pieces without a record.
func Open(dir string, capacity uint64, key *wallet.Key) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, capacity: capacity, key: key, now: time.Now, meta: map[string]*meta{}}
	var orphans []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		switch {
		case d.IsDir():
			return nil
		case strings.HasPrefix(name, tmpPrefix):
			return os.Remove(path) // a write that never finished
		case strings.HasSuffix(name, ".json"):
			id := strings.TrimSuffix(name, ".json")
			if ParseID(id) != nil {
				return nil
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var m meta
			if err := json.Unmarshal(raw, &m); err != nil {
				return os.Remove(path) // unreadable record: the piece goes too
			}
			if fi, err := os.Stat(strings.TrimSuffix(path, ".json")); err != nil || uint64(fi.Size()) != m.Size {
				os.Remove(strings.TrimSuffix(path, ".json"))
				return os.Remove(path)
			}
			s.meta[id] = &m
			s.used += m.Size
		case ParseID(name) == nil, strings.HasSuffix(name, ".tree"):
			orphans = append(orphans, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening piece store %s: %w", dir, err)
	}
	for _, p := range orphans {
		if _, ok := s.meta[strings.TrimSuffix(filepath.Base(p), ".tree")]; !ok {
			os.Remove(p) // renamed in, but its record never was
		}
	}
	return s, nil
}

// Address is the provider's account (the receipt signer).
func (s *Store) Address() wallet.Address { return s.key.Address() }

// Path is where piece id lives (operators and tests).
func (s *Store) Path(id string) (string, error) { return s.path(id) }

func (s *Store) path(id string) (string, error) {
	if err := ParseID(id); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, id[0:2], id[2:4], id), nil
}

// Usage is the capacity and the bytes in use.
func (s *Store) Usage() (capacity, used uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.capacity, s.used
}

// Pieces is the number of pieces held.
func (s *Store) Pieces() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.meta)
}

// Has reports whether the piece is stored.
func (s *Store) Has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.meta[id]
	return ok
}

// Put stores data under id for deal and returns the signed receipt. A
// piece already stored only gains the deal (no second copy).
func (s *Store) Put(deal, id string, data []byte) (Receipt, error) {
	return s.PutReader(deal, id, int64(len(data)), bytes.NewReader(data))
}

// writebackEvery is how much of a piece is written before the store asks
// the kernel to start writing it back, so the fsync at the end waits for
// the tail only and the disk works while the piece still arrives.
const writebackEvery = 4 << 20

// PutReader is Put for a piece of size bytes read from r: it hashes the
// piece while it writes it to a temporary file (never holding it in
// memory), and keeps it only if it hashes to id, fsynced and renamed into
// place. A piece already stored is not read again: it only gains the deal.
func (s *Store) PutReader(deal, id string, size int64, r io.Reader) (Receipt, error) {
	path, err := s.path(id)
	if err != nil {
		return Receipt{}, err
	}
	if !market.ValidID(deal) {
		return Receipt{}, fmt.Errorf("%w: deal id %q", ErrInvalid, trunc(deal))
	}
	if size < 0 || size > MaxPiece {
		return Receipt{}, fmt.Errorf("%w: piece of %d bytes, limit %d", ErrInvalid, size, MaxPiece)
	}
	s.mu.Lock()
	m, exists := s.meta[id]
	if exists && m.Size != uint64(size) {
		s.mu.Unlock()
		return Receipt{}, fmt.Errorf("%w: piece %s has %d bytes, not %d", storage.ErrCorrupt, trunc(id), m.Size, size)
	}
	if !exists {
		if s.used+uint64(size) > s.capacity {
			s.mu.Unlock()
			return Receipt{}, fmt.Errorf("%w: %d of %d bytes used, piece needs %d", ErrFull, s.used, s.capacity, size)
		}
		s.used += uint64(size) // reserved while we write
		m = &meta{Size: uint64(size), Deals: map[string]bool{}, Added: s.now().Unix()}
	}
	s.mu.Unlock()
	if !exists {
		if err := s.writePiece(path, id, size, r); err != nil {
			s.mu.Lock()
			s.used -= uint64(size)
			s.mu.Unlock()
			return Receipt{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.meta[id]; ok {
		if !exists {
			s.used -= uint64(size) // a concurrent put of the same piece won: one copy
		}
		m = cur
	}
	nm := &meta{Size: m.Size, Deals: map[string]bool{deal: true}, Added: m.Added}
	for d := range m.Deals {
		nm.Deals[d] = true
	}
	// The meta file's directory fsync also makes the piece's rename durable
	// (same directory).
	if err := s.writeMeta(id, nm); err != nil {
		return Receipt{}, err
	}
	s.meta[id] = nm
	return s.receipt(deal, id, uint64(size)), nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writePiece streams size bytes of r into path through a temporary file,
// hashing them on the way; the piece is renamed into place only when it
// hashes to id and is fsynced. Its outline goes next to it without an
// fsync: a lost or torn outline is rebuilt from the piece (Prove).
func (s *Store) writePiece(path, id string, size int64, r io.Reader) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	defer f.Close()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var tree merkle.Builder
	var written, flushed int64
	for written < size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-written)])
		if err != nil {
			return fmt.Errorf("%w: reading piece: %d of %d bytes: %v", ErrInvalid, written+int64(n), size, err)
		}
		tree.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return err
		}
		if written += int64(n); written-flushed >= writebackEvery {
			_ = unix.SyncFileRange(int(f.Fd()), flushed, written-flushed, unix.SYNC_FILE_RANGE_WRITE)
			flushed = written
		}
	}
	root, outline := tree.Sum()
	if hex.EncodeToString(root) != id {
		return fmt.Errorf("%w: data does not hash to %s", storage.ErrCorrupt, id)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return writeFileNoSync(path+".tree", outline)
}

// writeFileNoSync writes data to path atomically (a temporary file renamed
// over it) but not durably: for files rebuilt when lost.
func writeFileNoSync(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func (s *Store) receipt(deal, id string, size uint64) Receipt {
	return Receipt{Piece: id, Size: size, Deal: deal, Key: s.key.PubKey(),
		Signature: s.key.Sign(market.ReceiptDomain, market.ReceiptBytes(deal, id, size))}
}

func (s *Store) writeMeta(id string, m *meta) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	p, _ := s.path(id)
	return writeFile(p+".json", raw)
}

// writeFile writes data to path atomically and durably: a temporary file
// in the same directory, fsync, rename, fsync of the directory.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get returns the whole piece, verified against its id: a piece that
// rotted on disk is ErrCorrupt, never returned.
func (s *Store) Get(id string) ([]byte, error) {
	path, err := s.path(id)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	if ID(data) != id {
		return nil, fmt.Errorf("%w: piece %s on disk does not match its id", storage.ErrCorrupt, id)
	}
	return data, nil
}

// ReadRange returns length bytes of the piece from off. Ranges are not
// verified (only whole pieces hash to their id); readers verify what they
// assemble.
func (s *Store) ReadRange(id string, off, length int64) ([]byte, error) {
	path, err := s.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if off < 0 || length < 0 || off > fi.Size() {
		return nil, fmt.Errorf("%w: range %d+%d of a %d-byte piece", ErrInvalid, off, length, fi.Size())
	}
	length = min(length, fi.Size()-off)
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}

// Proof is an audit answer: leaf index's bytes and its Merkle path.
type Proof struct {
	Leaf uint64   `json:"leaf"`
	Data []byte   `json:"data"`
	Path [][]byte `json:"path"`
}

// Prove builds the audit proof for leaf of piece id from one group read
// (16 KiB) and the stored outline; the group is checked against its
// chaining value in the outline, so a rotted leaf yields ErrCorrupt rather
// than a proof the chain would reject. Without an outline of the current
// format (a store from before it) it reads the whole piece and stores one.
func (s *Store) Prove(id string, leaf uint64) (Proof, error) {
	path, err := s.path(id)
	if err != nil {
		return Proof{}, err
	}
	s.mu.Lock()
	m, ok := s.meta[id]
	s.mu.Unlock()
	if !ok {
		return Proof{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if leaf >= merkle.Leaves(m.Size) {
		return Proof{}, fmt.Errorf("%w: leaf %d of %d", ErrInvalid, leaf, merkle.Leaves(m.Size))
	}
	rebuild := func() ([]byte, error) {
		data, err := s.Get(id) // verifies the whole piece against its id
		if err != nil {
			return nil, err
		}
		_, outline := merkle.Tree(data)
		return outline, writeFileNoSync(path+".tree", outline)
	}
	outline, err := os.ReadFile(path + ".tree")
	rebuilt := false
	if err == nil && uint64(len(outline)) != merkle.Groups(m.Size)*merkle.HashSize {
		err = fs.ErrNotExist // torn, or of another format: rebuild it
	}
	if errors.Is(err, fs.ErrNotExist) {
		if outline, err = rebuild(); err != nil {
			return Proof{}, err
		}
		rebuilt = true
	} else if err != nil {
		return Proof{}, err
	}
	off, n := merkle.GroupSpan(m.Size, leaf/merkle.GroupLeaves)
	group, err := s.ReadRange(id, int64(off), int64(n))
	if err != nil {
		return Proof{}, err
	}
	p, err := merkle.ProofFromOutline(outline, m.Size, group, leaf)
	if err != nil && !rebuilt {
		// The group on disk no longer matches the outline: either the
		// piece rotted (rebuild fails with ErrCorrupt) or the outline did.
		if outline, err = rebuild(); err != nil {
			return Proof{}, err
		}
		p, err = merkle.ProofFromOutline(outline, m.Size, group, leaf)
	}
	if err != nil {
		return Proof{}, fmt.Errorf("%w: leaf %d of piece %s on disk: %v", storage.ErrCorrupt, leaf, id, err)
	}
	lo := leaf*merkle.LeafSize - off
	data := group[lo : lo+merkle.LeafLen(m.Size, leaf)]
	return Proof{Leaf: leaf, Data: data, Path: p}, nil
}

// Deals lists the deals a piece is held for.
func (s *Store) Deals(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meta[id]
	if !ok {
		return nil
	}
	var out []string
	for d := range m.Deals {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Deal states for GC.
const (
	DealLive    = iota // on chain and running: keep
	DealPending        // not on chain (yet): keep until PendingTTL
	DealEnded          // expired, or this provider no longer holds the piece for it
)

// GC drops each piece's deals that state reports ended (or pending for
// longer than pendingTTL since the piece arrived) and deletes pieces left
// with none. It returns the bytes freed.
func (s *Store) GC(state func(deal, piece string) int, pendingTTL time.Duration) (uint64, error) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.meta))
	for id := range s.meta {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	var freed uint64
	for _, id := range ids {
		deals := s.Deals(id)
		s.mu.Lock()
		m := s.meta[id]
		s.mu.Unlock()
		if m == nil {
			continue
		}
		keep := map[string]bool{}
		for _, d := range deals {
			switch state(d, id) {
			case DealLive:
				keep[d] = true
			case DealPending:
				if s.now().Sub(time.Unix(m.Added, 0)) < pendingTTL {
					keep[d] = true
				}
			}
		}
		if len(keep) == len(deals) {
			continue
		}
		s.mu.Lock()
		if len(keep) > 0 {
			nm := &meta{Size: m.Size, Deals: keep, Added: m.Added}
			if err := s.writeMeta(id, nm); err != nil {
				s.mu.Unlock()
				return freed, err
			}
			s.meta[id] = nm
			s.mu.Unlock()
			continue
		}
		p, _ := s.path(id)
		// Record first: a crash between the two leaves an orphan piece,
		// which Open removes.
		if err := os.Remove(p + ".json"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.mu.Unlock()
			return freed, err
		}
		os.Remove(p)
		os.Remove(p + ".tree")
		delete(s.meta, id)
		s.used -= m.Size
		freed += m.Size
		s.mu.Unlock()
	}
	return freed, nil
}
