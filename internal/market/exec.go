package market

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"math/bits"
	"slices"
	"strconv"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// Attr is one event attribute.
type Attr struct{ Key, Value string }

// Event is something the market did, for indexers and provider agents.
type Event struct {
	Type  string
	Attrs []Attr
}

// Event types.
const (
	EventProvider = "market.provider" // action=registered|updated|deregistered|lost|unbonded|withdraw
	EventOrder    = "market.order"    // action=created|bid|closed|reopened
	EventLease    = "market.lease"    // action=created|notice|topup
)

// Ctx is one execution: a transaction (Sender set) or the end of a block.
type Ctx struct {
	Height    int64
	Sender    wallet.Address
	SenderKey []byte // the sender's ed25519 public key
	TxHash    []byte // hash of the transaction; names new orders
	Seed      []byte // end of block: the block hash, which seeds audit challenges
	KV        KV
	Bank      Bank
	Events    []Event
}

func (c *Ctx) emit(typ string, kv ...string) {
	ev := Event{Type: typ}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Attrs = append(ev.Attrs, Attr{kv[i], kv[i+1]})
	}
	c.Events = append(c.Events, ev)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// OrderID is the ID an order created by the transaction with this hash gets.
func OrderID(txHash []byte) string {
	h := sha256.Sum256(txHash)
	return idEncoding.EncodeToString(h[:10])
}

// Exec applies one message from c.Sender. On error the caller must discard
// c's writes.
func Exec(c *Ctx, m Msg) error {
	if err := m.Validate(); err != nil {
		return fail(CodeInvalid, "%s", err)
	}
	s := newStore(c.KV)
	var err error
	switch m := m.(type) {
	case *Register:
		err = register(c, s, m)
	case *Update:
		err = update(c, s, m)
	case *Deregister:
		err = deregister(c, s)
	case *Heartbeat:
		err = heartbeat(c, s)
	case *Withdraw:
		err = withdraw(c, s)
	case *Create:
		err = create(c, s, m)
	case *BidMsg:
		err = bid(c, s, m)
	case *Close:
		err = closeLease(c, s, m)
	case *TopUp:
		err = topUp(c, s, m)
	case *StorageDeal:
		err = storageDeal(c, s, m)
	case *AuditProof:
		err = auditProof(c, s, m)
	case *RepairDeal:
		err = repairDeal(c, s, m)
	case *CloseStorageDeal:
		err = closeDeal(c, s, m)
	case *RenewStorageDeal:
		err = renewDeal(c, s, m)
	case *SetIndex:
		err = setIndex(c, s, m)
	default:
		err = fail(CodeInvalid, "unknown market message %T", m)
	}
	if err == nil {
		s.flush()
	}
	return err
}

func (c *Ctx) provider(s *store) (*Provider, error) {
	p, ok := s.provider(c.Sender)
	if !ok {
		return nil, fail(CodeNotFound, "%s is not a registered provider", c.Sender)
	}
	if p.Status == ProviderUnbonding {
		return nil, fail(CodeState, "provider %s is unbonding until height %d", c.Sender, p.UnbondAt)
	}
	return p, nil
}

func register(c *Ctx, s *store, m *Register) error {
	if p, ok := s.provider(c.Sender); ok {
		return fail(CodeState, "%s is already a provider (%s)", c.Sender, p.Status)
	}
	prm := s.params()
	if m.Stake < prm.MinStake {
		return fail(CodeInvalid, "stake %d uvis below the minimum %d", m.Stake, prm.MinStake)
	}
	if err := c.Bank.Debit(c.Sender, m.Stake); err != nil {
		return err
	}
	s.hold(m.Stake)
	p := &Provider{
		Address: c.Sender, Endpoint: m.Endpoint, Ingress: m.Ingress, X25519: m.X25519,
		Attributes: m.Attributes, Capacity: m.Capacity, Prices: m.Prices, Stake: m.Stake, Storage: m.Storage,
		Reputation: InitialReputation, Status: ProviderActive, Heartbeat: c.Height, Registered: c.Height,
	}
	s.putProvider(p)
	s.addSorted(keyProviders, c.Sender.String())
	s.schedule(c.Height+prm.Grace+1, itemHeartbeat+c.Sender.String())
	c.emit(EventProvider, "action", "registered", "provider", c.Sender.String())
	return nil
}

func update(c *Ctx, s *store, m *Update) error {
	p, err := c.provider(s)
	if err != nil {
		return err
	}
	if !p.Used.fits(m.Capacity) {
		return fail(CodeCapacity, "capacity below what current leases use")
	}
	if p.StorageUsed > m.Storage {
		return fail(CodeCapacity, "storage %d bytes below the %d storage deals use", m.Storage, p.StorageUsed)
	}
	p.Storage = m.Storage
	p.Endpoint, p.Ingress, p.X25519, p.Attributes, p.Capacity, p.Prices = m.Endpoint, m.Ingress, m.X25519, m.Attributes, m.Capacity, m.Prices
	s.putProvider(p)
	c.emit(EventProvider, "action", "updated", "provider", c.Sender.String())
	return nil
}

func deregister(c *Ctx, s *store) error {
	p, err := c.provider(s)
	if err != nil {
		return err
	}
	prm := s.params()
	for _, id := range slices.Clone(p.Leases) {
		if o, ok := s.order(id); ok {
			reopen(c, s, prm, o, p, ReasonProviderLeft, c.Height)
		}
	}
	settleDeals(s, p, c.Height) // its pieces stop counting from here
	p.Status, p.UnbondAt = ProviderUnbonding, c.Height+prm.Unbonding
	s.putProvider(p)
	checkDeals(c, s, p)
	s.schedule(p.UnbondAt, itemUnbond+p.Address.String())
	c.emit(EventProvider, "action", "deregistered", "provider", c.Sender.String(), "unbond_at", itoa(p.UnbondAt))
	return nil
}

func heartbeat(c *Ctx, s *store) error {
	p, err := c.provider(s)
	if err != nil {
		return err
	}
	recovered := p.Status == ProviderLost
	if recovered {
		settleDeals(s, p, c.Height) // unpaid while lost
		p.Status = ProviderActive
		c.emit(EventProvider, "action", "recovered", "provider", c.Sender.String())
	}
	p.Heartbeat = c.Height
	s.putProvider(p)
	s.schedule(c.Height+s.params().Grace+1, itemHeartbeat+c.Sender.String())
	if recovered {
		// Its pieces count again. An active provider's heartbeat changes
		// no piece's health (healthy: not failed, provider active), so it
		// does not re-read every deal it holds.
		checkDeals(c, s, p)
	}
	return nil
}

func withdraw(c *Ctx, s *store) error {
	p, ok := s.provider(c.Sender)
	if !ok {
		return fail(CodeNotFound, "%s is not a registered provider", c.Sender)
	}
	for _, id := range p.Leases {
		if o, ok := s.order(id); ok {
			settle(o, p, c.Height)
			s.putOrder(o)
		}
	}
	settleDeals(s, p, c.Height)
	amount := p.Earned
	p.Earned = 0
	s.putProvider(p)
	if amount > 0 {
		s.release(amount)
		c.Bank.Credit(p.Address, amount)
	}
	c.emit(EventProvider, "action", "withdraw", "provider", c.Sender.String(), "amount", utoa(amount))
	return nil
}

func create(c *Ctx, s *store, m *Create) error {
	id := OrderID(c.TxHash)
	if _, ok := s.order(id); ok {
		return fail(CodeState, "order %s exists", id) // unreachable: tx hashes are unique per nonce
	}
	if err := c.Bank.Debit(c.Sender, m.Deposit); err != nil {
		return err
	}
	s.hold(m.Deposit)
	prm := s.params()
	o := &Order{
		ID: id, Owner: c.Sender, OwnerKey: c.SenderKey, Name: m.Name, Image: m.Image, Resources: m.Resources,
		Ports: m.Ports, Isolation: m.Isolation, Regions: m.Regions, Attributes: m.Attributes,
		MinReputation: m.MinReputation, Secrets: m.Secrets, MaxPrice: m.MaxPrice, Escrow: m.Deposit, State: OrderOpen,
		Created: c.Height, CloseAt: c.Height + prm.BidWindow, Deadline: c.Height + prm.OrderTimeout,
	}
	s.putOrder(o)
	s.addSorted(keyOpen, id)
	l := s.list(ownerKey(c.Sender))
	s.putList(ownerKey(c.Sender), append(l, id))
	s.schedule(o.CloseAt, itemAuction+id)
	c.emit(EventOrder, "action", "created", "order", id, "owner", c.Sender.String())
	return nil
}

func bid(c *Ctx, s *store, m *BidMsg) error {
	p, err := c.provider(s)
	if err != nil {
		return err
	}
	o, ok := s.order(m.Order)
	if !ok {
		return fail(CodeNotFound, "order %s not found", m.Order)
	}
	if o.State != OrderOpen {
		return fail(CodeState, "order %s is %s", o.ID, o.State)
	}
	prm := s.params()
	if m.Price > o.MaxPrice {
		return fail(CodeInvalid, "price %d above the order's max_price %d", m.Price, o.MaxPrice)
	}
	if why := eligible(o, p, prm, c.Height); why != "" {
		return fail(CodeCapacity, "provider cannot serve order %s: %s", o.ID, why)
	}
	bids := s.bids(o.ID)
	i := slices.IndexFunc(bids, func(b Bid) bool { return b.Provider == c.Sender })
	if i >= 0 {
		bids = slices.Delete(bids, i, i+1)
	} else if len(bids) >= prm.MaxBids {
		worst := 0
		for j, b := range bids {
			if b.Price > bids[worst].Price || (b.Price == bids[worst].Price && b.Provider.Compare(bids[worst].Provider) > 0) {
				worst = j
			}
		}
		if m.Price >= bids[worst].Price {
			return fail(CodeState, "order %s has %d bids, all at or below %d", o.ID, len(bids), m.Price)
		}
		bids = slices.Delete(bids, worst, worst+1)
	}
	nb := Bid{Provider: c.Sender, Price: m.Price, Height: c.Height}
	j, _ := slices.BinarySearchFunc(bids, nb, func(a, b Bid) int { return a.Provider.Compare(b.Provider) })
	s.putBids(o.ID, slices.Insert(bids, j, nb))
	c.emit(EventOrder, "action", "bid", "order", o.ID, "provider", c.Sender.String(), "price", utoa(m.Price))
	return nil
}

func closeLease(c *Ctx, s *store, m *Close) error {
	o, ok := s.order(m.Lease)
	if !ok {
		return fail(CodeNotFound, "lease %s not found", m.Lease)
	}
	if o.State == OrderClosed {
		return fail(CodeState, "lease %s is already closed (%s)", o.ID, o.Reason)
	}
	switch {
	case c.Sender == o.Owner:
		var p *Provider
		if o.State == OrderLeased {
			p, _ = s.provider(*o.Provider)
			settle(o, p, c.Height)
		}
		closeOrder(c, s, o, p, ReasonClosedByTenant)
		return nil
	case o.State == OrderLeased && o.Provider != nil && c.Sender == *o.Provider:
		if o.EndAt != 0 {
			return fail(CodeState, "lease %s already ends at height %d", o.ID, o.EndAt)
		}
		o.EndAt = c.Height + s.params().Notice
		s.putOrder(o)
		s.schedule(o.EndAt, itemNotice+o.ID)
		c.emit(EventLease, "action", "notice", "lease", o.ID, "end_at", itoa(o.EndAt))
		return nil
	}
	return fail(CodeUnauthorized, "%s neither owns nor serves lease %s", c.Sender, o.ID)
}

func topUp(c *Ctx, s *store, m *TopUp) error {
	o, ok := s.order(m.Lease)
	if !ok {
		return fail(CodeNotFound, "lease %s not found", m.Lease)
	}
	if c.Sender != o.Owner {
		return fail(CodeUnauthorized, "%s does not own lease %s", c.Sender, o.ID)
	}
	if o.State == OrderClosed {
		return fail(CodeState, "lease %s is closed (%s)", o.ID, o.Reason)
	}
	if _, c2 := bits.Add64(o.Escrow, m.Amount, 0); c2 != 0 {
		return fail(CodeInvalid, "escrow overflows")
	}
	if err := c.Bank.Debit(c.Sender, m.Amount); err != nil {
		return err
	}
	s.hold(m.Amount)
	if o.State == OrderLeased {
		p, _ := s.provider(*o.Provider)
		settle(o, p, c.Height)
		s.putProvider(p)
	}
	o.Escrow += m.Amount
	s.putOrder(o)
	if o.State == OrderLeased {
		s.schedule(exhaustHeight(o), itemEscrow+o.ID)
	}
	c.emit(EventLease, "action", "topup", "lease", o.ID, "amount", utoa(m.Amount))
	return nil
}

// eligible returns "" if p may serve o at height h, else why not.
func eligible(o *Order, p *Provider, prm Params, h int64) string {
	switch {
	case p.Status != ProviderActive:
		return "provider is " + p.Status
	case p.Heartbeat+prm.Grace < h:
		return "provider missed its heartbeats"
	case p.Reputation < o.MinReputation:
		return "reputation " + utoa(p.Reputation) + " below " + utoa(o.MinReputation)
	case o.Isolation != "" && !slices.Contains(p.Attributes.Isolation, o.Isolation):
		return "isolation " + o.Isolation + " not offered"
	case len(o.Regions) > 0 && !slices.Contains(o.Regions, p.Attributes.Region):
		return "region " + p.Attributes.Region + " not allowed"
	case !attrMatch(o.Attributes.Arch, p.Attributes.Arch), !attrMatch(o.Attributes.CPUModel, p.Attributes.CPUModel),
		!attrMatch(o.Attributes.GPUVendor, p.Attributes.GPUVendor), !attrMatch(o.Attributes.GPUModel, p.Attributes.GPUModel),
		!attrMatch(o.Attributes.Region, p.Attributes.Region):
		return "attributes do not match"
	case !o.Resources.fits(p.Capacity.sub(p.Used)):
		return "not enough free capacity"
	case len(p.Leases) >= prm.MaxProviderLease:
		return "too many leases"
	}
	return ""
}

func attrMatch(want, have string) bool { return want == "" || want == have }

// settle pays o's provider for the blocks since o.SettledAt, up to h and
// at most the escrow.
func settle(o *Order, p *Provider, h int64) {
	if o.State != OrderLeased || h <= o.SettledAt {
		return
	}
	hi, due := bits.Mul64(o.Price, uint64(h-o.SettledAt))
	if hi != 0 || due > o.Escrow {
		due = o.Escrow
	}
	o.Escrow -= due
	o.Paid += due
	p.Earned += due
	o.SettledAt = h
}

// exhaustHeight is the height at which o's escrow, settled, can no longer
// pay the next block.
func exhaustHeight(o *Order) int64 {
	n := o.Escrow / o.Price
	if n > 1<<40 {
		n = 1 << 40
	}
	return o.SettledAt + int64(n)
}

// release takes o off p's books (capacity and lease list).
func releaseFrom(p *Provider, o *Order) {
	p.Used = p.Used.sub(o.Resources)
	if i, ok := slices.BinarySearch(p.Leases, o.ID); ok {
		p.Leases = slices.Delete(p.Leases, i, i+1)
	}
}

// closeOrder closes o for good and refunds its escrow; p is o's provider
// when leased (already settled by the caller).
func closeOrder(c *Ctx, s *store, o *Order, p *Provider, reason string) {
	switch o.State {
	case OrderOpen:
		s.removeSorted(keyOpen, o.ID)
		s.putBids(o.ID, nil)
	case OrderLeased:
		if p != nil {
			releaseFrom(p, o)
			if reason == ReasonClosedByTenant || reason == ReasonEscrowEmpty {
				p.Reputation = min(p.Reputation+closeReward, MaxReputation)
			}
			s.putProvider(p)
		}
	}
	refund := o.Escrow
	o.Escrow = 0
	if refund > 0 {
		s.release(refund)
		c.Bank.Credit(o.Owner, refund)
	}
	o.State, o.Reason, o.Closed = OrderClosed, reason, c.Height
	s.putOrder(o)
	c.emit(EventOrder, "action", "closed", "order", o.ID, "owner", o.Owner.String(), "reason", reason, "refund", utoa(refund))
}

// reopen takes leased o away from p (settled up to h) and puts it back to
// auction under the same ID.
func reopen(c *Ctx, s *store, prm Params, o *Order, p *Provider, reason string, h int64) {
	settle(o, p, h)
	releaseFrom(p, o)
	o.State, o.Reason = OrderOpen, reason
	o.Provider, o.Price, o.LeasedAt, o.SettledAt, o.EndAt = nil, 0, 0, 0, 0
	o.CloseAt, o.Deadline = c.Height+prm.BidWindow, c.Height+prm.OrderTimeout
	s.putOrder(o)
	s.addSorted(keyOpen, o.ID)
	s.schedule(o.CloseAt, itemAuction+o.ID)
	c.emit(EventOrder, "action", "reopened", "order", o.ID, "owner", o.Owner.String(), "reason", reason, "provider", p.Address.String())
}

// auction closes o's auction at c.Height: the cheapest eligible bid wins,
// ties broken by reputation, then by hash.
func auction(c *Ctx, s *store, prm Params, o *Order) {
	var best *Provider
	var bestPrice uint64
	var bestTie [32]byte
	for _, b := range s.bids(o.ID) {
		p, ok := s.provider(b.Provider)
		if !ok || b.Price > o.MaxPrice || b.Price > o.Escrow || eligible(o, p, prm, c.Height) != "" {
			continue
		}
		tie := sha256.Sum256(append([]byte(o.ID), p.Address[:]...))
		if best == nil || b.Price < bestPrice ||
			(b.Price == bestPrice && (p.Reputation > best.Reputation ||
				(p.Reputation == best.Reputation && bytes.Compare(tie[:], bestTie[:]) < 0))) {
			best, bestPrice, bestTie = p, b.Price, tie
		}
	}
	s.putBids(o.ID, nil)
	if best == nil {
		if c.Height >= o.Deadline {
			closeOrder(c, s, o, nil, ReasonNoBids)
			return
		}
		o.CloseAt = c.Height + prm.BidWindow
		s.putOrder(o)
		s.schedule(o.CloseAt, itemAuction+o.ID)
		return
	}
	s.removeSorted(keyOpen, o.ID)
	addr := best.Address
	o.State, o.Provider, o.Price = OrderLeased, &addr, bestPrice
	o.LeasedAt, o.SettledAt, o.CloseAt, o.Deadline = c.Height, c.Height, 0, 0
	o.Leases++
	best.Used = best.Used.add(o.Resources)
	i, _ := slices.BinarySearch(best.Leases, o.ID)
	best.Leases = slices.Insert(best.Leases, i, o.ID)
	s.putProvider(best)
	s.putOrder(o)
	s.schedule(exhaustHeight(o), itemEscrow+o.ID)
	c.emit(EventLease, "action", "created", "lease", o.ID, "owner", o.Owner.String(), "provider", addr.String(), "price", utoa(bestPrice))
}

func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }
