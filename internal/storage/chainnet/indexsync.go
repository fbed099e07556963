package chainnet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

// Replicating what is pending (Flush), reconciling cache and chain
// (Sync), and finding blobs whose deal ends soon (Expiring).

func (s *IndexStore) flushLater() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		s.warn(err)
	}
}

// Flush implements index.Flusher: it replicates every blob changed since
// its last replication, under the cache's lock (so no change of this
// process or another on the same home is half applied meanwhile).
func (s *IndexStore) Flush(ctx context.Context) error {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	var names []string
	for n := range s.dirty {
		names = append(names, n)
	}
	s.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	var errs []error
	for _, n := range names {
		// Nobody re-applies a change refused here: a conflict keeps it aside.
		if err := s.push(ctx, n, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SyncedBlob is one blob Sync looked at.
type SyncedBlob struct {
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	Action  string `json:"action"` // "pushed", "pulled", "current", "conflict" or "failed"
	Err     string `json:"error,omitempty"`
}

// Sync makes the cache and the chain agree: every cached blob newer than
// its pointer (or without one) is replicated, every pointer newer than
// the cache (or missing from it) is fetched. It works from the versions
// alone, so it also replicates changes an earlier process left behind.
// mine (index.Index.Owns) tells the owner's cached blobs from those of
// other keys sharing the directory, which are left alone.
func (s *IndexStore) Sync(ctx context.Context, mine func(name string, blob []byte) bool) ([]SyncedBlob, error) {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	local, err := s.Local.List(ctx)
	if err != nil {
		return nil, err
	}
	local = slices.DeleteFunc(local, func(n string) bool { return strings.Contains(n, conflictSuffix) })
	ptrs, err := s.pointers(ctx, true)
	if err != nil {
		return nil, err
	}
	names := slices.Clone(local)
	for n := range ptrs {
		if !slices.Contains(local, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out []SyncedBlob
	for _, n := range names {
		b := SyncedBlob{Name: n}
		data, lerr := s.Local.Read(ctx, n)
		v, _ := index.BlobVersion(data)
		p, onChain := ptrs[n]
		if lerr == nil && !onChain && !mine(n, data) {
			continue // another key's blob in a shared directory
		}
		switch {
		case lerr != nil && !errors.Is(lerr, index.ErrNotFound):
			b.Action, b.Err = "failed", lerr.Error()
		case lerr == nil && (!onChain || v > p.Version):
			b.Version = v
			if err := s.push(ctx, n, true); errors.Is(err, index.ErrConflict) {
				b.Action, b.Err = "conflict", err.Error()
			} else if err != nil {
				b.Action, b.Err = "failed", err.Error()
			} else {
				b.Action = "pushed"
			}
		case lerr == nil && v == p.Version:
			b.Version, b.Action = v, "current"
		default:
			b.Version = p.Version
			if blob, err := s.fetch(ctx, p); err != nil {
				b.Action, b.Err = "failed", err.Error()
			} else if err := s.replaceLocal(ctx, n, data, lerr == nil && s.isDirty(n), blob); err != nil {
				b.Action, b.Err = "failed", err.Error()
			} else {
				b.Action = "pulled"
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// Expiring lists the blobs whose pointer names a deal that ends within
// the next within blocks (or has ended): rewriting them (index.Touch)
// stores them under a new deal. Blobs inline in their pointer have no
// deal and never expire.
func (s *IndexStore) Expiring(ctx context.Context, within int64) ([]string, error) {
	ptrs, err := s.pointers(ctx, true)
	if err != nil {
		return nil, err
	}
	h, err := s.Net.Chain.Height(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, p := range ptrs {
		if p.Deal == "" {
			continue
		}
		d, err := s.Net.Chain.Deal(ctx, p.Deal)
		if err != nil {
			return nil, fmt.Errorf("chainnet: index blob %s deal %s: %w", name, p.Deal, err)
		}
		if d.State != market.DealActive || d.Expiry-h <= within {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}
