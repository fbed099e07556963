package market

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/vistara-labs/vimana/internal/merkle"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func storageDeal(c *Ctx, s *store, m *StorageDeal) error {
	id := DealID(c.Sender, m.Object)
	if _, ok := s.getDeal(id); ok {
		return fail(CodeState, "deal %s for this object exists", id)
	}
	if m.Expiry <= c.Height {
		return fail(CodeInvalid, "expiry %d is not after height %d", m.Expiry, c.Height)
	}
	// Bytes and rate per provider, then the whole deal's rate.
	need := make([]uint64, len(m.Providers))
	var rate uint64
	for _, seg := range m.Segments {
		r, ok := pieceRate(m.PricePerMiB, seg.Size)
		if !ok {
			return fail(CodeInvalid, "price overflows")
		}
		for _, p := range seg.Pieces {
			need[p.Provider] += seg.Size // ≤ 16 segments × 1 GiB: no overflow
			var carry uint64
			if rate, carry = bits.Add64(rate, r, 0); carry != 0 {
				return fail(CodeInvalid, "price overflows")
			}
		}
	}
	if cost, ok := dealCost(rate, c.Height, m.Expiry); !ok || cost > m.Deposit {
		return fail(CodeFunds, "deposit %d uvis does not cover %d uvis per block until height %d", m.Deposit, rate, m.Expiry)
	}
	prm := s.params()
	provs := make([]*Provider, len(m.Providers))
	for i, a := range m.Providers {
		p, ok := s.provider(a)
		switch {
		case !ok:
			return fail(CodeNotFound, "%s is not a registered provider", a)
		case p.Status != ProviderActive || p.Heartbeat+prm.Grace < c.Height:
			return fail(CodeCapacity, "provider %s is not active", a)
		case p.Prices.StorageMiB > m.PricePerMiB:
			return fail(CodeCapacity, "provider %s asks %d uvis per MiB per block", a, p.Prices.StorageMiB)
		case p.Storage < p.StorageUsed || p.Storage-p.StorageUsed < need[i]:
			return fail(CodeCapacity, "provider %s has %d of %d storage bytes free, the deal needs %d", a, p.Storage-min(p.Storage, p.StorageUsed), p.Storage, need[i])
		}
		provs[i] = p
	}
	if err := c.Bank.Debit(c.Sender, m.Deposit); err != nil {
		return err
	}
	s.hold(m.Deposit)
	d := &Deal{ID: id, Owner: c.Sender, Object: m.Object, K: m.K, M: m.M, RepairAt: m.RepairAt, PricePerMiB: m.PricePerMiB,
		Expiry: m.Expiry, Escrow: m.Deposit, SettledAt: c.Height, Created: c.Height, State: DealActive}
	if d.RepairAt == 0 {
		d.RepairAt = m.K + m.M
	}
	for _, seg := range m.Segments {
		ds := DealSegment{Size: seg.Size}
		for _, p := range seg.Pieces {
			ds.Pieces = append(ds.Pieces, StoredPiece{ID: p.ID, Root: p.Root, Provider: m.Providers[p.Provider]})
		}
		d.Segments = append(d.Segments, ds)
	}
	for i, p := range provs {
		p.StorageUsed += need[i]
		addDeal(p, id)
		s.putProvider(p)
	}
	s.putDeal(d)
	s.addSorted(keyActiveDeals, id)
	s.putList(dealOwnerKey(c.Sender), append(s.list(dealOwnerKey(c.Sender)), id))
	s.schedule(d.Expiry, itemExpiry+id)
	c.emit(EventDeal, "action", "created", "deal", id, "owner", c.Sender.String(), "rate", utoa(rate))
	return nil
}

// DealID is the ID of owner's deal for object: the client knows it before
// the deal is on chain, so it uploads its pieces under it first.
func DealID(owner wallet.Address, object []byte) string {
	h := sha256.New()
	h.Write([]byte("vimana/deal/v1"))
	h.Write(owner[:])
	h.Write(object)
	return idEncoding.EncodeToString(h.Sum(nil)[:10])
}

func addDeal(p *Provider, id string) {
	if i, found := slices.BinarySearch(p.Deals, id); !found {
		p.Deals = slices.Insert(p.Deals, i, id)
	}
}

// holds reports whether a holds any piece of d.
func holds(d *Deal, a wallet.Address) bool {
	for _, seg := range d.Segments {
		for _, p := range seg.Pieces {
			if p.Provider == a {
				return true
			}
		}
	}
	return false
}

// settleDeal pays d's healthy pieces' providers for the blocks since
// d.SettledAt, up to h and at most the escrow, in segment and piece order.
func settleDeal(s *store, d *Deal, h int64) {
	if d.State != DealActive || h <= d.SettledAt {
		return
	}
	blocks := uint64(h - d.SettledAt)
	for si := range d.Segments {
		size := d.Segments[si].Size
		for pi := range d.Segments[si].Pieces {
			pc := &d.Segments[si].Pieces[pi]
			if !healthy(s, pc) {
				continue
			}
			r, _ := pieceRate(d.PricePerMiB, size)
			hi, due := bits.Mul64(r, blocks)
			if hi != 0 || due > d.Escrow {
				due = d.Escrow
			}
			if due == 0 {
				continue
			}
			p, _ := s.provider(pc.Provider)
			d.Escrow -= due
			d.Paid += due
			p.Earned += due
			s.putProvider(p)
		}
	}
	d.SettledAt = h
	s.putDeal(d)
}

// settleDeals settles every deal p holds pieces of (before p's pieces
// change health).
func settleDeals(s *store, p *Provider, h int64) {
	for _, id := range p.Deals {
		if d, ok := s.getDeal(id); ok {
			settleDeal(s, d, h)
		}
	}
}

// checkDeals re-checks the repair threshold of every deal p holds pieces of.
func checkDeals(c *Ctx, s *store, p *Provider) {
	for _, id := range p.Deals {
		if d, ok := s.getDeal(id); ok {
			checkRepair(c, s, d)
		}
	}
}

// checkRepair flags d when a segment has fewer than RepairAt healthy
// pieces, and clears the flag once every segment is back.
func checkRepair(c *Ctx, s *store, d *Deal) {
	if d.State != DealActive {
		return
	}
	need := false
	for si := range d.Segments {
		n := uint32(0)
		for pi := range d.Segments[si].Pieces {
			if healthy(s, &d.Segments[si].Pieces[pi]) {
				n++
			}
		}
		if n < d.RepairAt {
			need = true
			if !d.Repair {
				c.emit(EventDeal, "action", "repair_needed", "deal", d.ID, "owner", d.Owner.String(), "segment", utoa(uint64(si)), "healthy", utoa(uint64(n)))
			}
		}
	}
	if need == d.Repair {
		return
	}
	d.Repair = need
	s.putDeal(d)
	if need {
		s.addSorted(keyRepair, d.ID)
	} else {
		s.removeSorted(keyRepair, d.ID)
		c.emit(EventDeal, "action", "repaired", "deal", d.ID, "owner", d.Owner.String())
	}
}

// expire ends d at its expiry height.
func expire(c *Ctx, s *store, d *Deal) { endDeal(c, s, d, DealExpired) }

func closeDeal(c *Ctx, s *store, m *CloseStorageDeal) error {
	d, err := ownActiveDeal(c, s, m.Deal)
	if err != nil {
		return err
	}
	endDeal(c, s, d, DealClosed)
	return nil
}

// ownActiveDeal is deal id when the sender owns it and it is active: what
// the owner's deal messages (close, renew) require.
func ownActiveDeal(c *Ctx, s *store, id string) (*Deal, error) {
	d, ok := s.getDeal(id)
	switch {
	case !ok:
		return nil, fail(CodeNotFound, "deal %s not found", id)
	case c.Sender != d.Owner:
		return nil, fail(CodeUnauthorized, "%s does not own deal %s", c.Sender, d.ID)
	case d.State != DealActive:
		return nil, fail(CodeState, "deal %s is already %s", d.ID, d.State)
	}
	return d, nil
}

// endDeal ends d at c.Height with state (DealExpired, DealClosed): its
// providers are paid up to c.Height, the rest of the escrow goes back to
// the owner, the providers' storage frees and d's open challenges are
// dropped (it is off the active list, so no new ones are drawn).
func endDeal(c *Ctx, s *store, d *Deal, state string) {
	settleDeal(s, d, c.Height)
	for _, seg := range d.Segments {
		for _, pc := range seg.Pieces {
			if p, ok := s.provider(pc.Provider); ok {
				p.StorageUsed -= min(p.StorageUsed, seg.Size)
				if i, found := slices.BinarySearch(p.Deals, d.ID); found {
					p.Deals = slices.Delete(p.Deals, i, i+1)
				}
				s.putProvider(p)
			}
		}
	}
	for si, seg := range d.Segments {
		for pi := range seg.Pieces {
			if ch, ok := s.challenge(challengeName(d.ID, uint32(si), uint32(pi))); ok {
				s.deleteChallenge(ch)
			}
		}
	}
	refund := d.Escrow
	d.Escrow = 0
	if refund > 0 {
		s.release(refund)
		c.Bank.Credit(d.Owner, refund)
	}
	d.State, d.Repair, d.Ended, d.Refund = state, false, c.Height, refund
	s.putDeal(d)
	s.removeSorted(keyActiveDeals, d.ID)
	s.removeSorted(keyRepair, d.ID)
	c.emit(EventDeal, "action", state, "deal", d.ID, "owner", d.Owner.String(), "refund", utoa(refund), "paid", utoa(d.Paid))
}

// challenge issues up to AuditsPerBlock challenges at c.Height. Draw i
// hashes the block's seed with the height and i; its bytes pick a deal
// among the active ones, a segment, a piece and a leaf (each by modulo:
// the bias is below 2^-40 for any realistic count). Deals created in this
// block, failed pieces, pieces of inactive providers and pieces with an
// open challenge are skipped, so a block may issue fewer.
func challenge(c *Ctx, s *store, prm Params) {
	active := s.list(keyActiveDeals)
	if len(active) == 0 {
		return
	}
	for i := range prm.AuditsPerBlock {
		h := sha256.New()
		h.Write([]byte("vimana/audit/v1"))
		h.Write(c.Seed)
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(c.Height)))
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
		r := h.Sum(nil)
		pick := func(j int, n uint64) uint64 { return binary.BigEndian.Uint64(r[j*8:]) % n }
		d, ok := s.getDeal(active[pick(0, uint64(len(active)))])
		if !ok || d.Created == c.Height {
			continue
		}
		si := uint32(pick(1, uint64(len(d.Segments))))
		seg := d.Segments[si]
		pi := uint32(pick(2, uint64(len(seg.Pieces))))
		pc := &seg.Pieces[pi]
		if !healthy(s, pc) {
			continue
		}
		if _, open := s.challenge(challengeName(d.ID, si, pi)); open {
			continue
		}
		ch := &Challenge{Deal: d.ID, Segment: si, Piece: pi, Leaf: pick(3, merkle.Leaves(seg.Size)), Provider: pc.Provider,
			PieceID: pc.ID, Height: c.Height, Due: c.Height + prm.AuditWindow}
		s.putChallenge(ch)
		s.schedule(ch.Due, itemAudit+ch.Key())
		c.emit(EventAudit, "action", "challenge", "deal", d.ID, "provider", pc.Provider.String(), "segment", utoa(uint64(si)),
			"piece", utoa(uint64(pi)), "leaf", utoa(ch.Leaf), "due", itoa(ch.Due))
	}
}

func auditProof(c *Ctx, s *store, m *AuditProof) error {
	ch, ok := s.challenge(challengeName(m.Deal, m.Segment, m.Piece))
	if !ok {
		return fail(CodeNotFound, "no open challenge for deal %s segment %d piece %d", m.Deal, m.Segment, m.Piece)
	}
	if c.Sender != ch.Provider {
		return fail(CodeUnauthorized, "challenge %s is for %s", ch.Key(), ch.Provider)
	}
	if m.Leaf != ch.Leaf {
		return fail(CodeInvalid, "challenge %s asks for leaf %d, not %d", ch.Key(), ch.Leaf, m.Leaf)
	}
	d, ok := s.getDeal(ch.Deal)
	if !ok || d.State != DealActive {
		s.deleteChallenge(ch)
		return nil // the deal ended: nothing to prove
	}
	seg := d.Segments[ch.Segment]
	pc := seg.Pieces[ch.Piece]
	if !merkle.Verify(pc.Root, seg.Size, m.Leaf, m.Data, m.Path) {
		// A wrong answer is a result, not a refused tx: it must be recorded.
		fault(c, s, s.params(), ch, ReasonBadProof)
		return nil
	}
	s.deleteChallenge(ch)
	d.Segments[ch.Segment].Pieces[ch.Piece].Passed++
	s.putDeal(d)
	c.emit(EventAudit, "action", "passed", "deal", d.ID, "provider", ch.Provider.String(), "segment", utoa(uint64(ch.Segment)), "piece", utoa(uint64(ch.Piece)))
	return nil
}

// missed handles a challenge still open at its due height.
func missed(c *Ctx, s *store, prm Params, ch *Challenge) {
	if d, ok := s.getDeal(ch.Deal); !ok || d.State != DealActive {
		s.deleteChallenge(ch)
		return
	}
	fault(c, s, prm, ch, ReasonMissed)
}

// fault records a failed audit: the piece stops counting (and being
// paid), the provider loses reputation and AuditSlash of its stake, which
// goes to the deal's owner, and the deal is flagged if the segment fell
// below its repair threshold.
func fault(c *Ctx, s *store, prm Params, ch *Challenge, reason string) {
	s.deleteChallenge(ch)
	d, _ := s.getDeal(ch.Deal)
	settleDeal(s, d, c.Height)
	d.Segments[ch.Segment].Pieces[ch.Piece].Failed = true
	s.putDeal(d)
	var slashed uint64
	if p, ok := s.provider(ch.Provider); ok {
		slashed = min(p.Stake, prm.AuditSlash)
		p.Stake -= slashed
		p.Reputation -= min(p.Reputation, prm.AuditPenalty)
		s.putProvider(p)
		if slashed > 0 {
			s.release(slashed)
			c.Bank.Credit(d.Owner, slashed)
		}
	}
	c.emit(EventAudit, "action", "failed", "deal", d.ID, "provider", ch.Provider.String(), "segment", utoa(uint64(ch.Segment)),
		"piece", utoa(uint64(ch.Piece)), "reason", reason, "slashed", utoa(slashed))
	checkRepair(c, s, d)
}

func repairDeal(c *Ctx, s *store, m *RepairDeal) error {
	d, ok := s.getDeal(m.Deal)
	if !ok {
		return fail(CodeNotFound, "deal %s not found", m.Deal)
	}
	if d.State != DealActive {
		return fail(CodeState, "deal %s is %s", d.ID, d.State)
	}
	if int(m.Segment) >= len(d.Segments) || int(m.Piece) >= len(d.Segments[m.Segment].Pieces) {
		return fail(CodeInvalid, "deal %s has no segment %d piece %d", d.ID, m.Segment, m.Piece)
	}
	seg := &d.Segments[m.Segment]
	pc := &seg.Pieces[m.Piece]
	if c.Sender != d.Owner && healthy(s, pc) {
		return fail(CodeUnauthorized, "only the owner may move a healthy piece")
	}
	if !wallet.Verify(m.Key, ReceiptDomain, ReceiptBytes(d.ID, pc.ID, seg.Size), m.Signature) {
		return fail(CodeUnauthorized, "receipt signature does not verify")
	}
	for i, o := range seg.Pieces {
		if uint32(i) != m.Piece && o.Provider == m.Provider {
			return fail(CodeInvalid, "provider %s already holds piece %d of segment %d", m.Provider, i, m.Segment)
		}
	}
	np, ok := s.provider(m.Provider)
	prm := s.params()
	switch {
	case !ok:
		return fail(CodeNotFound, "%s is not a registered provider", m.Provider)
	case np.Status != ProviderActive || np.Heartbeat+prm.Grace < c.Height:
		return fail(CodeCapacity, "provider %s is not active", m.Provider)
	case np.Prices.StorageMiB > d.PricePerMiB:
		return fail(CodeCapacity, "provider %s asks %d uvis per MiB per block", m.Provider, np.Prices.StorageMiB)
	case m.Provider != pc.Provider && (np.Storage < np.StorageUsed || np.Storage-np.StorageUsed < seg.Size):
		return fail(CodeCapacity, "provider %s has no room for %d bytes", m.Provider, seg.Size)
	}
	settleDeal(s, d, c.Height)
	old := pc.Provider
	if ch, ok := s.challenge(challengeName(d.ID, m.Segment, m.Piece)); ok {
		s.deleteChallenge(ch)
	}
	if old != m.Provider {
		if op, ok := s.provider(old); ok {
			op.StorageUsed -= min(op.StorageUsed, seg.Size)
			pc.Provider = m.Provider // before holds(): old may still hold other pieces
			if !holds(d, old) {
				if i, found := slices.BinarySearch(op.Deals, d.ID); found {
					op.Deals = slices.Delete(op.Deals, i, i+1)
				}
			}
			s.putProvider(op)
		}
		np, _ = s.provider(m.Provider) // the same record when old == new's cache entry
		np.StorageUsed += seg.Size
		addDeal(np, d.ID)
		s.putProvider(np)
	}
	pc.Provider, pc.Failed = m.Provider, false
	// The repair worker's fee comes out of the escrow after the providers
	// were paid up to now; the owner moving its own piece is not paid (it
	// would only move its escrow back to itself).
	var fee uint64
	if c.Sender != d.Owner {
		fee = min(prm.RepairFeePerPiece, d.Escrow)
		if fee > 0 {
			d.Escrow -= fee
			d.RepairPaid += fee
			s.release(fee)
			c.Bank.Credit(c.Sender, fee)
		}
	}
	s.putDeal(d)
	c.emit(EventDeal, "action", "piece_moved", "deal", d.ID, "owner", d.Owner.String(), "segment", utoa(uint64(m.Segment)),
		"piece", utoa(uint64(m.Piece)), "from", old.String(), "provider", m.Provider.String(), "fee", utoa(fee))
	checkRepair(c, s, d)
	return nil
}
