package market

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// KV is the state the market reads and writes. A nil value deletes.
type KV interface {
	Get(key string) []byte
	Set(key string, val []byte)
}

// Bank moves tokens between accounts and the market.
type Bank interface {
	// Debit takes amount from a's balance into the market, or fails with
	// ErrFunds.
	Debit(a wallet.Address, amount uint64) error
	// Credit pays amount out of the market to a.
	Credit(a wallet.Address, amount uint64)
}

// Result codes of market failures; they share the app's codespace.
const (
	CodeFunds        uint32 = 6
	CodeInvalid      uint32 = 8
	CodeNotFound     uint32 = 10
	CodeUnauthorized uint32 = 11
	CodeState        uint32 = 12 // not allowed in the current state
	CodeCapacity     uint32 = 13
)

// Error is a refusal with a result code.
type Error struct {
	Code uint32
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func fail(code uint32, format string, a ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// ErrFunds is Bank.Debit's error for an insufficient balance.
var ErrFunds = &Error{Code: CodeFunds, Msg: "insufficient funds"}

// State keys.
const (
	keyParams    = "mkt/params"
	keyHeld      = "mkt/held"      // uvis held by the market: escrow + stakes + earnings
	keyProviders = "mkt/providers" // sorted provider addresses
	keyOpen      = "mkt/open"      // sorted open order IDs
	prefixProv   = "mkt/p/"        // + address bytes
	prefixOrder  = "mkt/o/"        // + id
	prefixBids   = "mkt/b/"        // + id
	prefixOwner  = "mkt/w/"        // + address bytes: the owner's order IDs
	prefixAgenda = "mkt/a/"        // + 8-byte height: work due at that height

	keyActiveDeals = "sto/active" // sorted active deal IDs
	keyRepair      = "sto/repair" // sorted IDs of deals flagged for repair
	prefixDeal     = "sto/d/"     // + id
	prefixChal     = "sto/c/"     // + deal/segment/piece: an open challenge
	prefixProvChal = "sto/pc/"    // + address bytes: the provider's open challenges, sorted
	prefixDealOwn  = "sto/w/"     // + address bytes: the owner's deal IDs
)

func provChalKey(a wallet.Address) string  { return prefixProvChal + string(a[:]) }
func dealOwnerKey(a wallet.Address) string { return prefixDealOwn + string(a[:]) }

func provKey(a wallet.Address) string  { return prefixProv + string(a[:]) }
func ownerKey(a wallet.Address) string { return prefixOwner + string(a[:]) }
func agendaKey(h int64) string {
	return prefixAgenda + string(binary.BigEndian.AppendUint64(nil, uint64(h)))
}

// store wraps KV with typed accessors and a write-back cache: records are
// decoded once per transaction or block and encoded once by flush. Values
// are JSON of plain structs (no maps), so their encoding is deterministic;
// lists are newline-joined strings.
type store struct {
	kv    KV
	prov  map[wallet.Address]*Provider
	ord   map[string]*Order
	lists map[string][]string
	bid   map[string][]Bid
	deal  map[string]*Deal
	chal  map[string]*Challenge
	dirty map[string]bool // keys to write at flush
}

func newStore(kv KV) *store {
	return &store{kv: kv, prov: map[wallet.Address]*Provider{}, ord: map[string]*Order{},
		lists: map[string][]string{}, bid: map[string][]Bid{}, deal: map[string]*Deal{}, chal: map[string]*Challenge{}, dirty: map[string]bool{}}
}

// flush writes every changed record, in key order.
func (s *store) flush() {
	for _, k := range slices.Sorted(maps.Keys(s.dirty)) {
		switch {
		case strings.HasPrefix(k, prefixProv):
			var a wallet.Address
			copy(a[:], k[len(prefixProv):])
			s.writeJSON(k, s.prov[a])
		case strings.HasPrefix(k, prefixOrder):
			s.writeJSON(k, s.ord[k[len(prefixOrder):]])
		case strings.HasPrefix(k, prefixDeal):
			s.writeJSON(k, s.deal[k[len(prefixDeal):]])
		case strings.HasPrefix(k, prefixChal):
			s.writeJSON(k, s.chal[k[len(prefixChal):]])
		case strings.HasPrefix(k, prefixBids):
			if b := s.bid[k[len(prefixBids):]]; len(b) > 0 {
				s.kv.Set(k, encodeBids(b))
			} else {
				s.kv.Set(k, nil)
			}
		default:
			if l := s.lists[k]; len(l) > 0 {
				s.kv.Set(k, []byte(strings.Join(l, "\n")))
			} else {
				s.kv.Set(k, nil)
			}
		}
	}
	clear(s.dirty)
}

func (s *store) readJSON(k string, v any) bool {
	raw := s.kv.Get(k)
	if raw == nil {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		panic(fmt.Sprintf("market: corrupt state at %q: %v", k, err)) // state is only written by us
	}
	return true
}

func (s *store) writeJSON(k string, v any) {
	if reflectNil(v) {
		s.kv.Set(k, nil)
		return
	}
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("market: encoding %q: %v", k, err)) // unreachable: plain structs
	}
	s.kv.Set(k, raw)
}

func reflectNil(v any) bool {
	switch v := v.(type) {
	case *Provider:
		return v == nil
	case *Order:
		return v == nil
	case *Deal:
		return v == nil
	case *Challenge:
		return v == nil
	}
	return v == nil
}

func (s *store) params() Params {
	p := DefaultParams()
	s.readJSON(keyParams, &p)
	return p.withDefaults()
}

func (s *store) getDeal(id string) (*Deal, bool) {
	if d, ok := s.deal[id]; ok {
		return d, d != nil
	}
	var d Deal
	if !s.readJSON(prefixDeal+id, &d) {
		s.deal[id] = nil
		return nil, false
	}
	s.deal[id] = &d
	return &d, true
}

func (s *store) putDeal(d *Deal) {
	s.deal[d.ID] = d
	s.dirty[prefixDeal+d.ID] = true
}

func (s *store) challenge(name string) (*Challenge, bool) {
	if c, ok := s.chal[name]; ok {
		return c, c != nil
	}
	var c Challenge
	if !s.readJSON(prefixChal+name, &c) {
		s.chal[name] = nil
		return nil, false
	}
	s.chal[name] = &c
	return &c, true
}

func (s *store) putChallenge(c *Challenge) {
	s.chal[c.Key()] = c
	s.dirty[prefixChal+c.Key()] = true
	s.addSorted(provChalKey(c.Provider), c.Key())
}

func (s *store) deleteChallenge(c *Challenge) {
	s.chal[c.Key()] = nil
	s.dirty[prefixChal+c.Key()] = true
	s.removeSorted(provChalKey(c.Provider), c.Key())
}

// provider returns the cached record; callers that change it call
// putProvider.
func (s *store) provider(a wallet.Address) (*Provider, bool) {
	if p, ok := s.prov[a]; ok {
		return p, p != nil
	}
	raw := s.kv.Get(provKey(a))
	if raw == nil {
		s.prov[a] = nil
		return nil, false
	}
	p := memo.provider(raw)
	s.prov[a] = p
	return p, true
}

func (s *store) putProvider(p *Provider) {
	s.prov[p.Address] = p
	s.dirty[provKey(p.Address)] = true
}

func (s *store) deleteProvider(a wallet.Address) {
	s.prov[a] = nil
	s.dirty[provKey(a)] = true
}

func (s *store) order(id string) (*Order, bool) {
	if o, ok := s.ord[id]; ok {
		return o, o != nil
	}
	var o Order
	if !s.readJSON(prefixOrder+id, &o) {
		s.ord[id] = nil
		return nil, false
	}
	s.ord[id] = &o
	return &o, true
}

func (s *store) putOrder(o *Order) {
	s.ord[o.ID] = o
	s.dirty[prefixOrder+o.ID] = true
}

func (s *store) bids(id string) []Bid {
	if b, ok := s.bid[id]; ok {
		return b
	}
	b := decodeBids(s.kv.Get(prefixBids + id))
	s.bid[id] = b
	return b
}

// Bids are stored as fixed 36-byte records: address, price, height.
const bidSize = wallet.AddressSize + 16

func encodeBids(bs []Bid) []byte {
	out := make([]byte, 0, len(bs)*bidSize)
	for _, b := range bs {
		out = append(out, b.Provider[:]...)
		out = binary.BigEndian.AppendUint64(out, b.Price)
		out = binary.BigEndian.AppendUint64(out, uint64(b.Height))
	}
	return out
}

func decodeBids(raw []byte) []Bid {
	if len(raw)%bidSize != 0 {
		panic(fmt.Sprintf("market: corrupt bids record of %d bytes", len(raw)))
	}
	out := make([]Bid, len(raw)/bidSize)
	for i := range out {
		r := raw[i*bidSize:]
		copy(out[i].Provider[:], r)
		out[i].Price = binary.BigEndian.Uint64(r[wallet.AddressSize:])
		out[i].Height = int64(binary.BigEndian.Uint64(r[wallet.AddressSize+8:]))
	}
	return out
}

// decodeMemo remembers decoded provider records by their exact bytes, so
// a record unchanged since the last block is not parsed again. It is a
// pure function of the bytes, so it cannot affect consensus; callers get
// deep copies they may change.
type decodeMemo struct {
	mu sync.Mutex
	m  map[string]*Provider // raw JSON → decoded
}

var memo = &decodeMemo{m: map[string]*Provider{}}

const memoLimit = 1 << 17

func (d *decodeMemo) provider(raw []byte) *Provider {
	d.mu.Lock()
	p, ok := d.m[string(raw)]
	d.mu.Unlock()
	if !ok {
		p = new(Provider)
		if err := json.Unmarshal(raw, p); err != nil {
			panic(fmt.Sprintf("market: corrupt provider record: %v", err)) // only we write state
		}
		d.mu.Lock()
		if len(d.m) >= memoLimit {
			clear(d.m)
		}
		d.m[string(raw)] = p
		d.mu.Unlock()
	}
	c := *p
	c.X25519 = slices.Clone(p.X25519)
	c.Leases = slices.Clone(p.Leases)
	c.Deals = slices.Clone(p.Deals)
	c.Attributes.Isolation = slices.Clone(p.Attributes.Isolation)
	return &c
}

func (s *store) putBids(id string, b []Bid) {
	s.bid[id] = b
	s.dirty[prefixBids+id] = true
}

func (s *store) list(k string) []string {
	if l, ok := s.lists[k]; ok {
		return l
	}
	var l []string
	if raw := s.kv.Get(k); len(raw) > 0 {
		l = strings.Split(string(raw), "\n")
	}
	s.lists[k] = l
	return l
}

func (s *store) putList(k string, l []string) {
	s.lists[k] = l
	s.dirty[k] = true
}

// addSorted inserts v into the sorted list at k (no duplicates).
func (s *store) addSorted(k, v string) {
	l := s.list(k)
	i, found := slices.BinarySearch(l, v)
	if !found {
		s.putList(k, slices.Insert(l, i, v))
	}
}

// removeSorted deletes v from the sorted list at k.
func (s *store) removeSorted(k, v string) {
	l := s.list(k)
	if i, found := slices.BinarySearch(l, v); found {
		s.putList(k, slices.Delete(l, i, i+1))
	}
}

// Agenda items: work the chain does at a height. They are hints: each
// handler re-checks the record, so stale items are harmless.
const (
	itemAuction   = "a:" // + order id: close its auction
	itemEscrow    = "e:" // + order id: its escrow cannot pay the next block
	itemNotice    = "n:" // + order id: its provider's notice ends
	itemHeartbeat = "h:" // + provider bech32: check it heartbeat in time
	itemUnbond    = "u:" // + provider bech32: return its stake
	itemExpiry    = "x:" // + deal id: the deal ends
	itemAudit     = "c:" // + challenge name: its answer is due
)

func (s *store) schedule(h int64, item string) {
	k := agendaKey(h)
	l := s.list(k)
	if !slices.Contains(l, item) {
		s.putList(k, append(l, item))
	}
}

func (s *store) held() uint64 { return decodeUint(s.kv.Get(keyHeld)) }

func (s *store) hold(amount uint64) { s.kv.Set(keyHeld, encodeUint(s.held()+amount)) }

func (s *store) release(amount uint64) {
	h := s.held()
	if amount > h {
		panic(fmt.Sprintf("market: releasing %d uvis, holding %d", amount, h)) // conservation broken
	}
	s.kv.Set(keyHeld, encodeUint(h-amount))
}

func encodeUint(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
