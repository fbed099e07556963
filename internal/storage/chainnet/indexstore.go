package chainnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// IndexChain is what the replicated index asks of the chain
// (chain.Client; the owner's storage.index pointers).
type IndexChain interface {
	IndexPointers(ctx context.Context, owner wallet.Address) ([]market.IndexPointer, error)
}

// ErrStale is SubmitIndex's error when the chain refused the pointer
// because another writer stored the same or a newer version first.
var ErrStale = errors.New("chainnet: the chain holds a newer index version")

// IndexSegmentSize is the segment size of index blobs on the network:
// blobs are small, and storage.Put holds one segment in memory.
const IndexSegmentSize = 4 << 20

// conflictSuffix names a local blob set aside because a newer version
// from another machine replaced it while it waited to be replicated.
const conflictSuffix = ".conflict-v"

// IndexStore is the owner's bucket index kept on the network: an
// index.Store over the local directory (the cache every read is served
// from) that copies each sealed blob to providers — as an object of the
// owner, under a storage deal, inline in the pointer when ≤ 4 KiB — and
// records it with a storage.index pointer on chain. The pointer is a
// compare-and-set register (the version must rise), so a write based on
// a stale version is refused: IndexStore then fetches the newer blob into
// the cache and returns index.ErrConflict, and the Index applies the
// change again. A read fetches a blob when the cache lacks it (a new
// home) or the chain has a newer version; List merges both.
//
// By default every Write replicates before it returns (the CLI: a
// command's change is on the network when it exits). After Debounce, a
// Write returns once the cache has it and replication runs at most once
// per Delay for all blobs changed meanwhile (the S3 gateway, whose every
// PUT changes the index); Flush replicates what is pending.
type IndexStore struct {
	Local  index.Store
	Net    *Network // uploads, reads, deal closes
	Chain  IndexChain
	Submit func(ctx context.Context, m *market.SetIndex) error // ErrStale on a version refusal
	Master []byte                                              // wraps the blobs' segment keys (storage.MasterKey(seed, "objects"))
	Params storage.Params                                      // coding of blobs (k, m of the store config)
	Delay  time.Duration                                       // the debounce Debounce turns on
	TTL    time.Duration                                       // how long reads trust the pointer list (default 2 s)
	Warn   func(error)                                         // replication trouble nobody waits for; nil logs

	pushMu sync.Mutex // one replication at a time

	mu     sync.Mutex
	delay  time.Duration
	ptrs   map[string]market.IndexPointer
	ptrsAt time.Time
	ptrErr error
	dirty  map[string]bool
	timer  *time.Timer
}

var (
	_ index.Store   = (*IndexStore)(nil)
	_ index.Locker  = (*IndexStore)(nil)
	_ index.Flusher = (*IndexStore)(nil)
)

func (s *IndexStore) warn(err error) {
	if s.Warn != nil {
		s.Warn(err)
		return
	}
	slog.Warn("index replication", "err", err)
}

// Debounce switches to replicating at most once per Delay (a Delay of 0
// keeps replicating before each Write returns) and returns the delay.
func (s *IndexStore) Debounce() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = s.Delay
	return s.delay
}

// pointers is the owner's pointers by name, at most TTL old unless fresh.
func (s *IndexStore) pointers(ctx context.Context, fresh bool) (map[string]market.IndexPointer, error) {
	ttl := s.TTL
	if ttl == 0 {
		ttl = 2 * time.Second
	}
	s.mu.Lock()
	if !fresh && !s.ptrsAt.IsZero() && time.Since(s.ptrsAt) < ttl {
		ps, err := s.ptrs, s.ptrErr
		s.mu.Unlock()
		return ps, err
	}
	s.mu.Unlock()
	list, err := s.Chain.IndexPointers(ctx, s.Net.Key.Address())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ptrsAt = time.Now()
	if err != nil {
		// Remembered for TTL, so a chain outage costs one failed query
		// per TTL, not one per read.
		s.ptrs, s.ptrErr = nil, fmt.Errorf("chainnet: reading the index pointers: %w", err)
		return nil, s.ptrErr
	}
	s.ptrs, s.ptrErr = make(map[string]market.IndexPointer, len(list)), nil
	for _, p := range list {
		s.ptrs[p.Name] = p
	}
	return s.ptrs, nil
}

// setPointer records what this store just wrote (nil p: removed).
func (s *IndexStore) setPointer(name string, p *market.IndexPointer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptrs == nil {
		return
	}
	if p == nil {
		delete(s.ptrs, name)
	} else {
		s.ptrs[name] = *p
	}
}

func (s *IndexStore) setDirty(name string, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirty == nil {
		s.dirty = map[string]bool{}
	}
	if v {
		s.dirty[name] = true
	} else {
		delete(s.dirty, name)
	}
}

// Read implements index.Store.
func (s *IndexStore) Read(ctx context.Context, name string) ([]byte, error) {
	local, lerr := s.Local.Read(ctx, name)
	if lerr != nil && !errors.Is(lerr, index.ErrNotFound) {
		return nil, lerr
	}
	ptrs, err := s.pointers(ctx, false)
	if err != nil {
		if lerr == nil {
			return local, nil // the chain is unreachable: serve the cache
		}
		return nil, err
	}
	p, ok := ptrs[name]
	if !ok {
		return local, lerr
	}
	if lerr == nil {
		if v, _ := index.BlobVersion(local); v >= p.Version {
			return local, nil
		}
	}
	blob, err := s.fetch(ctx, p)
	if err != nil {
		if lerr == nil {
			s.warn(fmt.Errorf("index blob %s: the chain has version %d, reading it failed (serving the cached one): %w", name, p.Version, err))
			return local, nil
		}
		return nil, err
	}
	if err := s.replaceLocal(ctx, name, local, lerr == nil && s.isDirty(name), blob); err != nil {
		return nil, err
	}
	return blob, nil
}

func (s *IndexStore) isDirty(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty[name]
}

// replaceLocal caches blob, a newer version from the chain, under name.
// keepOld sets the cached blob aside first: a change of this machine
// that lost to the newer version and that nobody will apply again.
func (s *IndexStore) replaceLocal(ctx context.Context, name string, old []byte, keepOld bool, blob []byte) error {
	if keepOld {
		v, _ := index.BlobVersion(old)
		nv, _ := index.BlobVersion(blob)
		aside := fmt.Sprintf("%s%s%d", name, conflictSuffix, v)
		if err := s.Local.Write(ctx, aside, old); err != nil {
			return err
		}
		s.warn(fmt.Errorf("index blob %s: another machine stored version %d before this machine's version %d was replicated; this machine's is kept aside as %s", name, nv, v, aside))
	}
	s.setDirty(name, false)
	return s.Local.Write(ctx, name, blob)
}

// fetch reads the blob p points to from the network and checks its
// version (the blob's own authentication is the Index's, when it opens it).
func (s *IndexStore) fetch(ctx context.Context, p market.IndexPointer) ([]byte, error) {
	var obj storage.Object
	if err := json.Unmarshal(p.Object, &obj); err != nil {
		return nil, fmt.Errorf("chainnet: index pointer %s: %w", p.Name, err)
	}
	read := func(obj *storage.Object) ([]byte, error) {
		stores, err := s.Net.Resolve(ctx, obj.Stores)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := storage.Get(ctx, obj, stores, s.Master, &buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	blob, err := read(&obj)
	if err != nil && obj.Deal != "" { // pieces moved by a repair: ask the deal
		if at, lerr := s.Net.Locate(ctx, &obj); lerr == nil {
			blob, err = read(at)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("chainnet: reading index blob %s version %d: %w", p.Name, p.Version, err)
	}
	if v, ok := index.BlobVersion(blob); !ok || v != p.Version {
		return nil, fmt.Errorf("chainnet: index blob %s: the pointer says version %d, the blob %d: %w", p.Name, p.Version, v, index.ErrCorrupt)
	}
	return blob, nil
}

// Write implements index.Store.
func (s *IndexStore) Write(ctx context.Context, name string, data []byte) error {
	if err := s.Local.Write(ctx, name, data); err != nil {
		return err
	}
	s.setDirty(name, true)
	s.mu.Lock()
	delay := s.delay
	if delay > 0 && s.timer == nil {
		s.timer = time.AfterFunc(delay, s.flushLater)
	}
	s.mu.Unlock()
	if delay > 0 {
		return nil
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	err := s.push(ctx, name, false)
	if err != nil && !errors.Is(err, index.ErrConflict) {
		// The change is in the cache; the next write of this bucket or
		// `vimana store sync` replicates it.
		s.warn(fmt.Errorf("index change kept on this machine only (run vimana store sync): %w", err))
		return nil
	}
	return err
}

// push replicates the cached blob name: upload, then the pointer, then
// close the replaced blob's deal. The caller holds pushMu. aside: set
// the cached blob aside on a conflict (nobody will re-apply it).
func (s *IndexStore) push(ctx context.Context, name string, aside bool) (err error) {
	s.setDirty(name, false)
	defer func() {
		if err != nil && !errors.Is(err, index.ErrConflict) {
			s.setDirty(name, true)
		}
	}()
	data, err := s.Local.Read(ctx, name)
	if errors.Is(err, index.ErrNotFound) {
		return nil // removed meanwhile: Remove cleared the pointer
	} else if err != nil {
		return err
	}
	v, ok := index.BlobVersion(data)
	if !ok {
		return fmt.Errorf("chainnet: index blob %s: %w", name, index.ErrCorrupt)
	}
	ptrs, err := s.pointers(ctx, true)
	if err != nil {
		return err
	}
	old, had := ptrs[name]
	if had && old.Version >= v {
		return s.conflict(ctx, name, old, data, aside)
	}
	obj, err := s.upload(ctx, data)
	if err != nil {
		return err
	}
	meta, err := json.Marshal(obj)
	if err == nil && len(meta) > market.MaxIndexObject {
		err = fmt.Errorf("chainnet: index blob %s: %d bytes of metadata, limit %d (the bucket's index is too large)", name, len(meta), market.MaxIndexObject)
	}
	if err == nil {
		err = s.Submit(ctx, &market.SetIndex{Name: name, Version: v, Object: meta, Deal: obj.Deal})
	}
	if err != nil {
		s.closeDeal(ctx, obj.Deal) // nothing will point at this blob
		if errors.Is(err, ErrStale) {
			if ptrs, perr := s.pointers(ctx, true); perr == nil {
				if cur, ok := ptrs[name]; ok && cur.Version >= v {
					return s.conflict(ctx, name, cur, data, aside)
				}
			}
		}
		return fmt.Errorf("chainnet: storage.index %s: %w", name, err)
	}
	s.setPointer(name, &market.IndexPointer{Owner: s.Net.Key.Address().String(), Name: name, Version: v, Object: meta, Deal: obj.Deal})
	if had && old.Deal != "" && old.Deal != obj.Deal {
		s.closeDeal(ctx, old.Deal)
	}
	return nil
}

// conflict handles a refused version: the newer blob replaces the cached
// one (set aside when asked) and the caller gets index.ErrConflict.
func (s *IndexStore) conflict(ctx context.Context, name string, newer market.IndexPointer, local []byte, aside bool) error {
	blob, err := s.fetch(ctx, newer)
	if err != nil {
		s.setDirty(name, true)
		return fmt.Errorf("%w (version %d on chain; fetching it: %v)", index.ErrConflict, newer.Version, err)
	}
	// Without aside the Index re-applies the change to the newer version.
	if err := s.replaceLocal(ctx, name, local, aside, blob); err != nil {
		return err
	}
	return fmt.Errorf("index blob %s version %d: %w", name, newer.Version, index.ErrConflict)
}

// upload stores one blob like an object: inline when small, else pieces
// on k+m providers under a new deal.
func (s *IndexStore) upload(ctx context.Context, data []byte) (*storage.Object, error) {
	if len(data) <= storage.InlineLimit {
		return storage.Put(ctx, bytes.NewReader(data), nil, s.Master, s.Params, nil)
	}
	up, err := s.Net.BeginPut(ctx, index.BucketConfig{Params: s.Params})
	if err != nil {
		return nil, err
	}
	obj, err := storage.Put(ctx, bytes.NewReader(data), up.Stores, s.Master, s.Params, nil)
	if err != nil {
		return nil, err
	}
	if obj.Deal, err = up.Commit(ctx, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s *IndexStore) closeDeal(ctx context.Context, deal string) {
	if deal == "" {
		return
	}
	if _, err := s.Net.CloseDeal(ctx, deal); err != nil {
		s.warn(fmt.Errorf("closing the replaced index blob's deal (it runs to its expiry): %w", err))
	}
}

// Remove implements index.Store: the pointer is cleared first (with the
// cached version, which must be the latest), then the cache; the blob's
// deal closes.
func (s *IndexStore) Remove(ctx context.Context, name string) error {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	local, lerr := s.Local.Read(ctx, name)
	if lerr != nil && !errors.Is(lerr, index.ErrNotFound) {
		return lerr
	}
	v, _ := index.BlobVersion(local)
	ptrs, err := s.pointers(ctx, true)
	if err != nil {
		return err
	}
	if p, ok := ptrs[name]; ok {
		if v < p.Version {
			return s.conflict(ctx, name, p, local, false)
		}
		if err := s.Submit(ctx, &market.SetIndex{Name: name, Version: v}); err != nil {
			if errors.Is(err, ErrStale) {
				if ptrs, perr := s.pointers(ctx, true); perr == nil {
					if cur, ok := ptrs[name]; ok && cur.Version > v {
						return s.conflict(ctx, name, cur, local, false)
					}
				}
			}
			return fmt.Errorf("chainnet: clearing index pointer %s: %w", name, err)
		}
		s.setPointer(name, nil)
		s.closeDeal(ctx, p.Deal)
	}
	s.setDirty(name, false)
	if lerr != nil {
		return lerr
	}
	return s.Local.Remove(ctx, name)
}

// List implements index.Store: the cached names and the chain's. With
// the chain unreachable it lists the cache (and warns).
func (s *IndexStore) List(ctx context.Context) ([]string, error) {
	names, err := s.Local.List(ctx)
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return strings.Contains(n, conflictSuffix) })
	ptrs, err := s.pointers(ctx, false)
	if err != nil {
		s.warn(fmt.Errorf("listing this machine's index only: %w", err))
		return names, nil
	}
	for n := range ptrs {
		if i, found := slices.BinarySearch(names, n); !found {
			names = slices.Insert(names, i, n)
		}
	}
	return names, nil
}

// Lock implements index.Locker with the cache's lock.
func (s *IndexStore) Lock(ctx context.Context) (func(), error) {
	if l, ok := s.Local.(index.Locker); ok {
		return l.Lock(ctx)
	}
	return func() {}, nil
}
