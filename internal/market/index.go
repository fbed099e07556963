package market

import (
	"fmt"
	"regexp"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// Index pointers (docs/storage.md "The index on the network", decision
// 33): an owner's encrypted bucket index is one sealed blob per bucket,
// stored on providers like any object; the chain keeps, per (owner, blob
// name), a pointer to its latest version — the object's metadata, opaque
// to the chain, and the deal holding its pieces. The pointer is a
// compare-and-set register: a new version must be above the stored one,
// so two machines of one owner cannot silently overwrite each other.

// TypeSetIndex sets or clears one of the sender's index pointers.
const TypeSetIndex = "storage.index"

// EventIndex is emitted when a pointer changes (action=set|removed).
const EventIndex = "storage.index"

// Bounds on index pointers.
const (
	MaxIndexObject   = 16 << 10 // bytes of object metadata in a pointer
	MaxIndexPointers = 1024     // pointers per owner
)

var indexNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// SetIndex stores Object (the JSON metadata of the blob's storage object:
// segments, wrapped keys, pieces; inline for a small blob) as the
// sender's pointer Name at Version, which must be above the stored
// version. Deal, when set, is the sender's active deal holding the blob's
// pieces. An empty Object clears the pointer; Version must then be at
// least the stored one (the remover has seen the latest version).
type SetIndex struct {
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	Object  []byte `json:"object,omitempty"`
	Deal    string `json:"deal,omitempty"`
}

// IndexPointer is one stored pointer.
type IndexPointer struct {
	Owner   string `json:"owner"` // bech32
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	Object  []byte `json:"object"`
	Deal    string `json:"deal,omitempty"`
	Height  int64  `json:"height"` // when it was set
}

// Validate implements Msg.
func (m *SetIndex) Validate() error {
	switch {
	case !indexNamePattern.MatchString(m.Name):
		return fmt.Errorf("name %q: want 1-64 of a-z 0-9 . _ -, not starting with . _ -", m.Name)
	case m.Version == 0:
		return fmt.Errorf("version: want ≥ 1")
	case len(m.Object) > MaxIndexObject:
		return fmt.Errorf("object: %d bytes, limit %d", len(m.Object), MaxIndexObject)
	case m.Deal != "" && !ValidID(m.Deal):
		return fmt.Errorf("deal %q: not a deal id", m.Deal)
	case len(m.Object) == 0 && m.Deal != "":
		return fmt.Errorf("deal: a removal names no deal")
	}
	return nil
}

// Debit implements Msg.
func (*SetIndex) Debit() uint64 { return 0 }

const (
	prefixIndex    = "sto/i/"  // + address bytes + "/" + name: an IndexPointer
	prefixIndexOwn = "sto/iw/" // + address bytes: the owner's pointer names, sorted
)

func indexKey(owner wallet.Address, name string) string {
	return prefixIndex + string(owner[:]) + "/" + name
}

func indexOwnerKey(owner wallet.Address) string { return prefixIndexOwn + string(owner[:]) }

func setIndex(c *Ctx, s *store, m *SetIndex) error {
	k := indexKey(c.Sender, m.Name)
	var cur IndexPointer
	exists := s.readJSON(k, &cur)
	if len(m.Object) == 0 {
		switch {
		case !exists:
			return fail(CodeNotFound, "no index pointer %s", m.Name)
		case m.Version < cur.Version:
			return fail(CodeState, "index %s: version %d is below the stored %d", m.Name, m.Version, cur.Version)
		}
		s.kv.Set(k, nil)
		s.removeSorted(indexOwnerKey(c.Sender), m.Name)
		c.emit(EventIndex, "action", "removed", "owner", c.Sender.String(), "name", m.Name, "version", utoa(m.Version))
		return nil
	}
	if exists && m.Version <= cur.Version {
		return fail(CodeState, "index %s: version %d is not above the stored %d", m.Name, m.Version, cur.Version)
	}
	if !exists && len(s.list(indexOwnerKey(c.Sender))) >= MaxIndexPointers {
		return fail(CodeState, "%s has %d index pointers, the limit", c.Sender, MaxIndexPointers)
	}
	if m.Deal != "" {
		d, ok := s.getDeal(m.Deal)
		switch {
		case !ok:
			return fail(CodeNotFound, "deal %s not found", m.Deal)
		case d.Owner != c.Sender:
			return fail(CodeUnauthorized, "%s does not own deal %s", c.Sender, d.ID)
		case d.State != DealActive:
			return fail(CodeState, "deal %s is %s", d.ID, d.State)
		}
	}
	s.writeJSON(k, &IndexPointer{Owner: c.Sender.String(), Name: m.Name, Version: m.Version, Object: m.Object, Deal: m.Deal, Height: c.Height})
	s.addSorted(indexOwnerKey(c.Sender), m.Name)
	c.emit(EventIndex, "action", "set", "owner", c.Sender.String(), "name", m.Name, "version", utoa(m.Version))
	return nil
}

// IndexPointers lists an owner's index pointers by name.
func (r Reader) IndexPointers(owner wallet.Address) []*IndexPointer {
	var out []*IndexPointer
	for _, name := range r.s().list(indexOwnerKey(owner)) {
		if p, ok := r.IndexPointer(owner, name); ok {
			out = append(out, p)
		}
	}
	return out
}

// IndexPointer returns one of an owner's index pointers.
func (r Reader) IndexPointer(owner wallet.Address, name string) (*IndexPointer, bool) {
	var p IndexPointer
	if !r.s().readJSON(indexKey(owner, name), &p) {
		return nil, false
	}
	return &p, true
}
