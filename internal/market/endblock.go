package market

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// EndBlock does the work due at c.Height, in the order it was scheduled:
// auctions close, empty escrows and noticed leases close, silent providers
// lose their leases (which re-open under the same ID), unbonded stakes
// return.
func EndBlock(c *Ctx) {
	s := newStore(c.KV)
	defer s.flush()
	prm := s.params()
	k := agendaKey(c.Height)
	items := s.list(k)
	if len(items) > 0 {
		s.putList(k, nil)
	}
	for _, it := range items {
		kind, arg := it[:2], it[2:]
		switch kind {
		case itemAuction:
			if o, ok := s.order(arg); ok && o.State == OrderOpen && o.CloseAt == c.Height {
				auction(c, s, prm, o)
			}
		case itemEscrow:
			o, ok := s.order(arg)
			if !ok || o.State != OrderLeased || exhaustHeight(o) != c.Height {
				continue // closed, re-leased or topped up since
			}
			p, _ := s.provider(*o.Provider)
			settle(o, p, c.Height)
			closeOrder(c, s, o, p, ReasonEscrowEmpty)
		case itemNotice:
			o, ok := s.order(arg)
			if !ok || o.State != OrderLeased || o.EndAt != c.Height {
				continue
			}
			p, _ := s.provider(*o.Provider)
			settle(o, p, c.Height)
			closeOrder(c, s, o, p, ReasonClosedByProvider)
		case itemHeartbeat:
			a, err := wallet.ParseAddress(arg)
			if err != nil {
				panic(fmt.Sprintf("market: agenda item %q: %v", it, err)) // only we write the agenda
			}
			p, ok := s.provider(a)
			if !ok || p.Status != ProviderActive || p.Heartbeat+prm.Grace >= c.Height {
				continue
			}
			settleDeals(s, p, c.Height)
			p.Status = ProviderLost
			p.Reputation -= min(p.Reputation, lossPenalty)
			checkDeals(c, s, p)
			for _, id := range slices.Clone(p.Leases) {
				if o, ok := s.order(id); ok {
					// The tenant pays until the last sign of life.
					reopen(c, s, prm, o, p, ReasonProviderLost, max(o.SettledAt, p.Heartbeat))
				}
			}
			s.putProvider(p)
			c.emit(EventProvider, "action", "lost", "provider", arg)
		case itemUnbond:
			a, err := wallet.ParseAddress(arg)
			if err != nil {
				panic(fmt.Sprintf("market: agenda item %q: %v", it, err))
			}
			p, ok := s.provider(a)
			if !ok || p.Status != ProviderUnbonding || p.UnbondAt != c.Height {
				continue
			}
			back := p.Stake + p.Earned
			s.release(back)
			c.Bank.Credit(p.Address, back)
			s.deleteProvider(a)
			s.removeSorted(keyProviders, arg)
			c.emit(EventProvider, "action", "unbonded", "provider", arg, "amount", utoa(back))
		case itemExpiry:
			if d, ok := s.getDeal(arg); ok && d.State == DealActive && d.Expiry == c.Height {
				expire(c, s, d)
			}
		case itemAudit:
			if ch, ok := s.challenge(arg); ok && ch.Due == c.Height {
				missed(c, s, prm, ch)
			}
		}
	}
	challenge(c, s, prm)
}

// SetParams writes the market parameters (genesis or governance).
func SetParams(kv KV, p Params) error {
	p = p.withDefaults()
	if p.AuditsPerBlock < 0 || p.AuditsPerBlock > 64 || p.AuditWindow < 1 {
		return fmt.Errorf("market params: audits_per_block 0..64, audit_window ≥ 1")
	}
	if p.BidWindow < 1 || p.OrderTimeout < p.BidWindow || p.Grace < 1 || p.Notice < 0 || p.Unbonding < 1 || p.MaxBids < 1 || p.MaxProviderLease < 1 {
		return fmt.Errorf("market params: windows must be positive, order_timeout ≥ bid_window, max_bids and max_provider_lease ≥ 1")
	}
	newStore(kv).writeJSON(keyParams, p)
	return nil
}

// Reader answers queries over committed state.
type Reader struct{ KV KV }

func (r Reader) s() *store { return newStore(r.KV) }

// Params are the market parameters.
func (r Reader) Params() Params { return r.s().params() }

// Held is what the market holds: every escrow, stake and unpaid earning.
func (r Reader) Held() uint64 { return r.s().held() }

// Provider returns a provider's record.
func (r Reader) Provider(a wallet.Address) (*Provider, bool) { return r.s().provider(a) }

// Providers lists every provider in address order.
func (r Reader) Providers() []*Provider {
	var out []*Provider
	for _, a := range r.s().list(keyProviders) {
		addr, err := wallet.ParseAddress(a)
		if err != nil {
			continue
		}
		if p, ok := r.s().provider(addr); ok {
			out = append(out, p)
		}
	}
	return out
}

// Order returns an order (lease) by ID.
func (r Reader) Order(id string) (*Order, bool) { return r.s().order(id) }

// Bids returns the open bids on an order.
func (r Reader) Bids(id string) []Bid { return r.s().bids(id) }

// Open lists open orders in ID order.
func (r Reader) Open() []*Order { return r.orders(r.s().list(keyOpen)) }

// Owned lists an owner's orders, oldest first.
func (r Reader) Owned(a wallet.Address) []*Order { return r.orders(r.s().list(ownerKey(a))) }

// Leases lists a provider's current leases.
func (r Reader) Leases(a wallet.Address) []*Order {
	p, ok := r.s().provider(a)
	if !ok {
		return nil
	}
	return r.orders(p.Leases)
}

func (r Reader) orders(ids []string) []*Order {
	out := make([]*Order, 0, len(ids))
	for _, id := range ids {
		if o, ok := r.s().order(id); ok {
			out = append(out, o)
		}
	}
	return out
}

// Audit recomputes what the market holds from its records, for the
// conservation invariant; owners lists every account that ever ordered.
func (r Reader) Audit(owners []wallet.Address) (sum uint64, err error) {
	for _, p := range r.Providers() {
		sum += p.Stake + p.Earned
		var used Resources
		for _, o := range r.orders(p.Leases) {
			if o.State != OrderLeased || o.Provider == nil || *o.Provider != p.Address {
				return 0, fmt.Errorf("provider %s lists lease %s (%s)", p.Address, o.ID, o.State)
			}
			used = used.add(o.Resources)
		}
		if used != p.Used {
			return 0, fmt.Errorf("provider %s: used %+v, leases add up to %+v", p.Address, p.Used, used)
		}
	}
	for _, a := range owners {
		for _, o := range r.Owned(a) {
			sum += o.Escrow
			open := slices.Contains(r.s().list(keyOpen), o.ID)
			if open != (o.State == OrderOpen) {
				return 0, fmt.Errorf("order %s is %s but open-list membership is %v", o.ID, o.State, open)
			}
		}
	}
	dsum, err := r.auditDeals()
	if err != nil {
		return 0, err
	}
	sum += dsum
	if sum != r.Held() {
		return sum, fmt.Errorf("records hold %d uvis, the market's total says %d", sum, r.Held())
	}
	return sum, nil
}

// auditDeals sums active deals' escrow and checks each provider's
// storage books against the deals' pieces.
func (r Reader) auditDeals() (uint64, error) {
	var sum uint64
	used := map[wallet.Address]uint64{}
	for _, d := range r.ActiveDeals() {
		sum += d.Escrow
		for _, seg := range d.Segments {
			for _, pc := range seg.Pieces {
				used[pc.Provider] += seg.Size
			}
		}
	}
	for _, p := range r.Providers() {
		if used[p.Address] != p.StorageUsed {
			return 0, fmt.Errorf("provider %s: storage_used %d, deals place %d", p.Address, p.StorageUsed, used[p.Address])
		}
	}
	return sum, nil
}

// Deal returns a storage deal by ID.
func (r Reader) Deal(id string) (*Deal, bool) { return r.s().getDeal(id) }

// ActiveDeals lists active deals in ID order.
func (r Reader) ActiveDeals() []*Deal { return r.deals(r.s().list(keyActiveDeals)) }

// RepairDeals lists deals flagged for repair, in ID order.
func (r Reader) RepairDeals() []*Deal { return r.deals(r.s().list(keyRepair)) }

// OwnedDeals lists an owner's deals, oldest first.
func (r Reader) OwnedDeals(a wallet.Address) []*Deal { return r.deals(r.s().list(dealOwnerKey(a))) }

func (r Reader) deals(ids []string) []*Deal {
	out := make([]*Deal, 0, len(ids))
	for _, id := range ids {
		if d, ok := r.s().getDeal(id); ok {
			out = append(out, d)
		}
	}
	return out
}

// Challenges lists a provider's open audit challenges.
func (r Reader) Challenges(a wallet.Address) []*Challenge {
	var out []*Challenge
	for _, name := range r.s().list(provChalKey(a)) {
		if c, ok := r.s().challenge(name); ok {
			out = append(out, c)
		}
	}
	return out
}

// URL is where a lease is served through its provider's ingress.
func URL(scheme, ingress, lease string) string {
	return scheme + "://" + lease + "." + strings.TrimPrefix(ingress, ".") + "/"
}
