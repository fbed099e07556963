package market

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/vistara-labs/vimana/internal/merkle"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// storageWorld is a world with six storage providers and a tenant holding
// one segment of k+m = 4+2 pieces of 3 KiB + 5 bytes.
type storageWorld struct {
	*world
	tenant *wallet.Key
	provs  []*wallet.Key
	pieces map[string][]byte // id → data

	noHeartbeat map[wallet.Address]bool // providers answer() does not heartbeat for
}

func newStorageWorld(t *testing.T) *storageWorld {
	tenant := key(t, 1)
	keys := []*wallet.Key{tenant}
	var provs []*wallet.Key
	for i := range 7 {
		provs = append(provs, key(t, byte(10+i)))
	}
	w := newWorld(t, append(keys, provs...)...)
	for _, p := range provs {
		o := offer(t, "eu", 1)
		o.Storage = 1 << 20
		o.Prices.StorageMiB = 2
		w.must(p, &Register{Offer: o, Stake: 50_000})
	}
	w.endBlock()
	return &storageWorld{world: w, tenant: tenant, provs: provs, pieces: map[string][]byte{}}
}

func pieceData(i int, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	return b
}

const testPieceSize = 3*merkle.LeafSize + 5

// deal builds a one-segment deal on provs[0..5].
func (w *storageWorld) deal(expiry int64, deposit uint64) *StorageDeal {
	m := &StorageDeal{Object: bytes.Repeat([]byte{7}, 32), K: 4, M: 2, PricePerMiB: 3, Expiry: expiry, Deposit: deposit}
	seg := DealSegmentMsg{Size: testPieceSize}
	for i := range 6 {
		m.Providers = append(m.Providers, w.provs[i].Address())
		data := pieceData(i, testPieceSize)
		id := fmt.Sprintf("%x", merkle.Root(data)) // the id is the piece's BLAKE3 hash, which is its root
		w.pieces[id] = data
		seg.Pieces = append(seg.Pieces, DealPieceMsg{ID: id, Root: merkle.Root(data), Provider: uint32(i)})
	}
	m.Segments = []DealSegmentMsg{seg}
	return m
}

func (w *storageWorld) lastDeal() *Deal {
	w.t.Helper()
	for i := len(w.events) - 1; i >= 0; i-- {
		if e := w.events[i]; e.Type == EventDeal && e.Attrs[0].Value == "created" {
			d, _ := Reader{w.kv}.Deal(e.Attrs[1].Value)
			return d
		}
	}
	w.t.Fatal("no deal created")
	return nil
}

// answer has every provider except skip answer its open challenges (bad:
// with a wrong leaf), and heartbeat.
func (w *storageWorld) answer(skip map[wallet.Address]bool, bad map[wallet.Address]bool) {
	w.t.Helper()
	for _, p := range w.provs {
		if !w.noHeartbeat[p.Address()] {
			w.must(p, &Heartbeat{})
		}
		if skip[p.Address()] {
			continue
		}
		for _, ch := range (Reader{w.kv}).Challenges(p.Address()) {
			data := w.pieces[ch.PieceID]
			path, err := merkle.Proof(data, ch.Leaf)
			if err != nil {
				w.t.Fatal(err)
			}
			off := ch.Leaf * merkle.LeafSize
			leaf := bytes.Clone(data[off : off+merkle.LeafLen(uint64(len(data)), ch.Leaf)])
			if bad[p.Address()] {
				leaf[0] ^= 0xff
			}
			w.must(p, &AuditProof{Deal: ch.Deal, Segment: ch.Segment, Piece: ch.Piece, Leaf: ch.Leaf, Data: leaf, Path: path})
		}
	}
}

func (w *storageWorld) count(typ, action string) int {
	n := 0
	for _, e := range w.events {
		if e.Type == typ && e.Attrs[0].Value == action {
			n++
		}
	}
	return n
}

func TestStorageDealLifecycle(t *testing.T) {
	w := newStorageWorld(t)
	start := w.height
	// rate: 6 pieces × 1 started MiB × 3 uvis = 18 per block.
	if err := w.exec(w.tenant, w.deal(start+20, 18*19)); err == nil || err.(*Error).Code != CodeFunds {
		t.Fatalf("underfunded deal: %v", err)
	}
	before := w.bank[w.tenant.Address()]
	w.must(w.tenant, w.deal(start+20, 18*20+100))
	d := w.lastDeal()
	w.endBlock()
	for _, p := range w.provs[:6] {
		pr, _ := Reader{w.kv}.Provider(p.Address())
		if pr.StorageUsed != testPieceSize || !slices.Contains(pr.Deals, d.ID) {
			t.Fatalf("provider books after deal: %+v", pr)
		}
	}
	for w.height <= start+20 {
		w.answer(nil, nil)
		w.endBlock()
	}
	d, _ = Reader{w.kv}.Deal(d.ID)
	if d.State != DealExpired || d.Paid != 18*20 || d.Escrow != 0 {
		t.Fatalf("expired deal: %+v", d)
	}
	if got := before - w.bank[w.tenant.Address()]; got != 18*20 {
		t.Fatalf("tenant paid %d, want %d (the rest refunded)", got, 18*20)
	}
	if w.count(EventAudit, "challenge") == 0 || w.count(EventAudit, "passed") == 0 || w.count(EventAudit, "failed") != 0 {
		t.Fatalf("audits: %d challenges, %d passed, %d failed", w.count(EventAudit, "challenge"), w.count(EventAudit, "passed"), w.count(EventAudit, "failed"))
	}
	for _, p := range w.provs[:6] {
		pr, _ := Reader{w.kv}.Provider(p.Address())
		if pr.StorageUsed != 0 || len(pr.Deals) != 0 || pr.Earned != 3*20 || pr.Stake != 50_000 {
			t.Fatalf("provider after expiry: %+v", pr)
		}
		if cs := (Reader{w.kv}).Challenges(p.Address()); len(cs) != 0 {
			t.Fatalf("challenges left after expiry: %+v", cs)
		}
	}
}

func TestAuditFailuresSlashAndFlag(t *testing.T) {
	w := newStorageWorld(t)
	w.must(w.tenant, w.deal(w.height+200, 1_000_000))
	d := w.lastDeal()
	w.endBlock()
	silent, liar := w.provs[0].Address(), w.provs[1].Address()
	for range 60 {
		w.answer(map[wallet.Address]bool{silent: true}, map[wallet.Address]bool{liar: true})
		w.endBlock()
	}
	d, _ = Reader{w.kv}.Deal(d.ID)
	prm := Reader{w.kv}.Params()
	for i, a := range []wallet.Address{silent, liar} {
		pc := d.Segments[0].Pieces[i]
		p, _ := Reader{w.kv}.Provider(a)
		if !pc.Failed || p.Stake != 50_000-prm.AuditSlash || p.Reputation != InitialReputation-prm.AuditPenalty {
			t.Fatalf("provider %d after failing: piece %+v, provider stake %d rep %d", i, pc, p.Stake, p.Reputation)
		}
	}
	reasons := map[string]int{}
	for _, e := range w.events {
		if e.Type == EventAudit && e.Attrs[0].Value == "failed" {
			for _, at := range e.Attrs {
				if at.Key == "reason" {
					reasons[at.Value]++
				}
			}
		}
	}
	if reasons[ReasonMissed] != 1 || reasons[ReasonBadProof] != 1 {
		t.Fatalf("failure reasons %v: want one miss and one bad proof (failed pieces are not challenged again)", reasons)
	}
	if !d.Repair || len(Reader{w.kv}.RepairDeals()) != 1 {
		t.Fatalf("deal not flagged for repair: %+v", d)
	}
	// Failed pieces are not paid: the healthy four earn more.
	b0, b2 := w.bank[silent], w.bank[w.provs[2].Address()]
	w.must(w.provs[0], &Withdraw{})
	w.must(w.provs[2], &Withdraw{})
	if e0, e2 := w.bank[silent]-b0, w.bank[w.provs[2].Address()]-b2; e0 >= e2 || e2 != 3*uint64(w.height-d.Created) {
		t.Fatalf("failed provider earned %d, healthy %d over %d blocks", e0, e2, w.height-d.Created)
	}
}

func TestChallengesAreDeterministic(t *testing.T) {
	run := func(seed byte) []string {
		w := newStorageWorld(t)
		w.must(w.tenant, w.deal(w.height+100, 1_000_000))
		w.endBlock()
		var out []string
		for range 10 {
			c := &Ctx{Height: w.height, KV: w.kv, Bank: w.bank, Seed: []byte{seed, byte(w.height)}}
			EndBlock(c)
			for _, e := range c.Events {
				out = append(out, fmt.Sprint(e))
			}
			w.height++
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Fatalf("same seeds, different challenges:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same challenges")
	}
}

func TestRepairDeal(t *testing.T) {
	w := newStorageWorld(t)
	w.must(w.tenant, w.deal(w.height+300, 1_000_000))
	d := w.lastDeal()
	w.endBlock()
	silent := w.provs[0].Address()
	for !d.Repair {
		w.answer(map[wallet.Address]bool{silent: true}, nil)
		w.endBlock()
		d, _ = Reader{w.kv}.Deal(d.ID)
		if w.height > 500 {
			t.Fatal("the silent provider was never challenged")
		}
	}
	worker, fresh := key(t, 99), w.provs[6]
	pc := d.Segments[0].Pieces[0]
	receipt := func(k *wallet.Key, piece string) []byte {
		return k.Sign(ReceiptDomain, ReceiptBytes(d.ID, piece, testPieceSize))
	}
	w.bank[worker.Address()] = 0
	mv := &RepairDeal{Deal: d.ID, Segment: 0, Piece: 0, Provider: fresh.Address(), Key: fresh.PubKey(), Signature: receipt(fresh, pc.ID)}
	// A receipt for another piece, a healthy piece, a provider already in
	// the segment: refused.
	bad := *mv
	bad.Signature = receipt(fresh, d.Segments[0].Pieces[1].ID)
	if err := w.exec(worker, &bad); err == nil || err.(*Error).Code != CodeUnauthorized {
		t.Fatalf("wrong receipt: %v", err)
	}
	healthyMove := *mv
	healthyMove.Piece = 1
	healthyMove.Signature = receipt(fresh, d.Segments[0].Pieces[1].ID)
	if err := w.exec(worker, &healthyMove); err == nil || err.(*Error).Code != CodeUnauthorized {
		t.Fatalf("stranger moving a healthy piece: %v", err)
	}
	dup := *mv
	dup.Provider, dup.Key, dup.Signature = w.provs[1].Address(), w.provs[1].PubKey(), receipt(w.provs[1], pc.ID)
	if err := w.exec(worker, &dup); err == nil || err.(*Error).Code != CodeInvalid {
		t.Fatalf("two pieces on one provider: %v", err)
	}
	w.must(worker, mv)
	w.endBlock()
	d, _ = Reader{w.kv}.Deal(d.ID)
	if d.Repair || d.Segments[0].Pieces[0].Provider != fresh.Address() || d.Segments[0].Pieces[0].Failed {
		t.Fatalf("after repair: %+v", d)
	}
	if fee := DefaultParams().RepairFeePerPiece; w.bank[worker.Address()] != fee || d.RepairPaid != fee {
		t.Fatalf("repair worker has %d, deal paid %d for repairs; want the fee %d", w.bank[worker.Address()], d.RepairPaid, fee)
	}
	old, _ := Reader{w.kv}.Provider(silent)
	nw, _ := Reader{w.kv}.Provider(fresh.Address())
	if old.StorageUsed != 0 || slices.Contains(old.Deals, d.ID) || nw.StorageUsed != testPieceSize || !slices.Contains(nw.Deals, d.ID) {
		t.Fatalf("books after repair: old %+v new %+v", old, nw)
	}
}

func TestLostProviderRecovers(t *testing.T) {
	w := newStorageWorld(t)
	w.must(w.tenant, w.deal(w.height+300, 1_000_000))
	d := w.lastDeal()
	w.endBlock()
	quiet := w.provs[2].Address()
	w.noHeartbeat = map[wallet.Address]bool{quiet: true}
	for !d.Repair {
		w.answer(nil, nil) // quiet still proves, but stops heartbeating
		w.endBlock()
		d, _ = Reader{w.kv}.Deal(d.ID)
		if w.height > 100 {
			t.Fatal("a lost provider's deal was never flagged")
		}
	}
	if p, _ := (Reader{w.kv}).Provider(quiet); p.Status != ProviderLost {
		t.Fatalf("flagged while the provider is %s", p.Status)
	}
	w.must(w.provs[2], &Heartbeat{})
	w.endBlock()
	if d, _ = (Reader{w.kv}).Deal(d.ID); d.Repair || len(Reader{w.kv}.RepairDeals()) != 0 {
		t.Fatalf("still flagged after the provider recovered: %+v", d)
	}
}

func TestProviderLossFlagsDeals(t *testing.T) {
	w := newStorageWorld(t)
	w.must(w.tenant, w.deal(w.height+300, 1_000_000))
	d := w.lastDeal()
	w.endBlock()
	w.must(w.provs[3], &Deregister{})
	w.endBlock()
	d, _ = Reader{w.kv}.Deal(d.ID)
	if !d.Repair {
		t.Fatalf("a deregistered provider's deal is not flagged: %+v", d)
	}
}

func TestStorageDealValidate(t *testing.T) {
	w := newStorageWorld(t)
	good := w.deal(100, 1000)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(m *StorageDeal){
		"object":    func(m *StorageDeal) { m.Object = m.Object[:31] },
		"k":         func(m *StorageDeal) { m.K = 0 },
		"repair_at": func(m *StorageDeal) { m.RepairAt = 3 },
		"pieces":    func(m *StorageDeal) { m.Segments[0].Pieces = m.Segments[0].Pieces[:5] },
		"distinct":  func(m *StorageDeal) { m.Segments[0].Pieces[1].Provider = 0 },
		"index":     func(m *StorageDeal) { m.Segments[0].Pieces[1].Provider = 6 },
		"id":        func(m *StorageDeal) { m.Segments[0].Pieces[1].ID = "../../etc/passwd" },
		"root":      func(m *StorageDeal) { m.Segments[0].Pieces[1].Root = nil },
		"root≠id":   func(m *StorageDeal) { m.Segments[0].Pieces[1].Root = bytes.Repeat([]byte{9}, 32) },
		"dup":       func(m *StorageDeal) { m.Providers[1] = m.Providers[0] },
		"price":     func(m *StorageDeal) { m.PricePerMiB = 0 },
		"size":      func(m *StorageDeal) { m.Segments[0].Size = 0 },
	} {
		m := w.deal(100, 1000)
		mut(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: invalid deal accepted", name)
		}
	}
	// A provider without storage or asking more refuses.
	m := w.deal(w.height+10, 1_000_000)
	m.PricePerMiB = 1
	if err := w.exec(w.tenant, m); err == nil || err.(*Error).Code != CodeCapacity {
		t.Fatalf("price below the providers' ask: %v", err)
	}
}

// TestCloseStorageDeal: only the owner closes; providers are paid up to
// the closing height and the owner gets exactly the rest; books, open
// challenges and the active list are cleared; a second close, a repair
// and a late proof are refused; no challenge names the deal afterwards
// and its stale expiry does nothing. Conservation is checked every block.
func TestCloseStorageDeal(t *testing.T) {
	w := newStorageWorld(t)
	const rate = 18 // 6 pieces × 1 started MiB × 3 uvis
	deposit := uint64(rate*100 + 500)
	w.must(w.tenant, w.deal(w.height+100, deposit))
	d := w.lastDeal()
	other := w.deal(w.height+100, deposit)
	other.Object = bytes.Repeat([]byte{8}, 32) // keeps challenges coming after the close
	w.must(w.tenant, other)
	d2 := w.lastDeal()
	w.endBlock()
	// Run until one of d's challenges is open at the close.
	open := func() *Challenge {
		for _, p := range w.provs[:6] {
			for _, ch := range (Reader{w.kv}).Challenges(p.Address()) {
				if ch.Deal == d.ID {
					return ch
				}
			}
		}
		return nil
	}
	for open() == nil {
		w.answer(nil, nil)
		w.endBlock()
		if w.height > d.Created+60 {
			t.Fatal("the deal was never challenged")
		}
	}
	pending := open()

	stranger := w.provs[0]
	if err := w.exec(stranger, &CloseStorageDeal{Deal: d.ID}); err == nil || err.(*Error).Code != CodeUnauthorized {
		t.Fatalf("a stranger closing: %v", err)
	}
	if err := w.exec(w.tenant, &CloseStorageDeal{Deal: "aaaaaaaaaaaaaaaa"}); err == nil || err.(*Error).Code != CodeNotFound {
		t.Fatalf("closing an unknown deal: %v", err)
	}
	if err := w.exec(w.tenant, &CloseStorageDeal{Deal: "../x"}); err == nil || err.(*Error).Code != CodeInvalid {
		t.Fatalf("closing a malformed id: %v", err)
	}
	h := w.height
	before := w.bank[w.tenant.Address()]
	earned := make([]uint64, 6)
	for i, p := range w.provs[:6] {
		pr, _ := Reader{w.kv}.Provider(p.Address())
		earned[i] = pr.Earned
	}
	w.must(w.tenant, &CloseStorageDeal{Deal: d.ID})
	blocks := uint64(h - d.Created)
	wantPaid := rate * blocks
	d, _ = Reader{w.kv}.Deal(d.ID)
	if d.State != DealClosed || d.Ended != h || d.Escrow != 0 || d.Paid != wantPaid || d.Refund != deposit-wantPaid || d.SettledAt != h {
		t.Fatalf("closed at height %d after %d blocks: %+v", h, blocks, d)
	}
	if got := w.bank[w.tenant.Address()] - before; got != deposit-wantPaid {
		t.Fatalf("refund %d, want %d", got, deposit-wantPaid)
	}
	for i, p := range w.provs[:6] {
		pr, _ := Reader{w.kv}.Provider(p.Address())
		// d's share settled now; d2 is settled only when touched.
		if pr.StorageUsed != testPieceSize || slices.Contains(pr.Deals, d.ID) || !slices.Contains(pr.Deals, d2.ID) {
			t.Fatalf("provider %d books after close: %+v", i, pr)
		}
		if pr.Earned-earned[i] != 3*blocks {
			t.Fatalf("provider %d earned %d → %d", i, earned[i], pr.Earned)
		}
		for _, ch := range (Reader{w.kv}).Challenges(p.Address()) {
			if ch.Deal == d.ID {
				t.Fatalf("challenge left after close: %+v", ch)
			}
		}
	}
	if act := (Reader{w.kv}).ActiveDeals(); len(act) != 1 || act[0].ID != d2.ID {
		t.Fatalf("active deals after close: %v", act)
	}
	if err := w.exec(w.tenant, &CloseStorageDeal{Deal: d.ID}); err == nil || err.(*Error).Code != CodeState {
		t.Fatalf("second close: %v", err)
	}
	late := &AuditProof{Deal: pending.Deal, Segment: pending.Segment, Piece: pending.Piece, Leaf: pending.Leaf}
	prover := w.provs[slices.IndexFunc(w.provs, func(k *wallet.Key) bool { return k.Address() == pending.Provider })]
	if err := w.exec(prover, late); err == nil || err.(*Error).Code != CodeNotFound {
		t.Fatalf("proof for a closed deal's challenge: %v", err)
	}
	fresh := w.provs[6]
	mv := &RepairDeal{Deal: d.ID, Segment: 0, Piece: 0, Provider: fresh.Address(), Key: fresh.PubKey(),
		Signature: fresh.Sign(ReceiptDomain, ReceiptBytes(d.ID, d.Segments[0].Pieces[0].ID, testPieceSize))}
	if err := w.exec(w.tenant, mv); err == nil || err.(*Error).Code != CodeState {
		t.Fatalf("repairing a closed deal: %v", err)
	}
	mark := len(w.events)
	w.endBlock()
	for w.height <= d.Expiry+1 {
		w.answer(nil, nil)
		w.endBlock()
	}
	challenged2 := 0
	for _, e := range w.events[mark:] {
		if e.Type == EventAudit && e.Attrs[0].Value == "challenge" {
			if e.Attrs[1].Value == d.ID {
				t.Fatalf("challenge issued for a closed deal: %v", e)
			}
			challenged2++
		}
		if e.Type == EventDeal && e.Attrs[1].Value == d.ID {
			t.Fatalf("event for the closed deal after closing: %v", e)
		}
	}
	if challenged2 == 0 {
		t.Fatal("no challenges at all after the close: the test proves nothing")
	}
	after, _ := Reader{w.kv}.Deal(d.ID)
	if after.State != DealClosed || after.Paid != d.Paid || after.Refund != d.Refund {
		t.Fatalf("closed deal changed at its old expiry: %+v", after)
	}
}

// TestCloseFlaggedDeal: closing a deal flagged for repair takes it off the
// repair list, so repair workers stop.
func TestCloseFlaggedDeal(t *testing.T) {
	w := newStorageWorld(t)
	w.must(w.tenant, w.deal(w.height+300, 1_000_000))
	d := w.lastDeal()
	w.endBlock()
	w.must(w.provs[3], &Deregister{})
	w.endBlock()
	if len(Reader{w.kv}.RepairDeals()) != 1 {
		t.Fatal("not flagged")
	}
	w.must(w.tenant, &CloseStorageDeal{Deal: d.ID})
	w.endBlock()
	if d, _ = (Reader{w.kv}).Deal(d.ID); d.Repair || d.State != DealClosed || len(Reader{w.kv}.RepairDeals()) != 0 {
		t.Fatalf("closed flagged deal: %+v, repair list %v", d, Reader{w.kv}.RepairDeals())
	}
}

// FuzzStorageConservation drives deals, closes and renewals (by the owner
// and by strangers), audits with silent providers, paid repairs, index pointers
// (a pointer changes only by a rising version), withdrawals and blocks from
// the input; the world checks conservation and the storage books after
// every block, and a closed deal never holds escrow or open challenges.
// The seeds run as a normal test.
func FuzzStorageConservation(f *testing.F) {
	f.Add([]byte{0, 1, 4, 3, 0, 4, 1, 0, 4, 4})
	f.Add([]byte{0, 9, 0, 17, 4, 3, 2, 4, 4, 3, 1, 1, 1, 0, 4, 5, 3, 4, 0, 30, 4, 1, 2, 4, 4, 4})
	f.Add([]byte{0, 200, 4, 3, 6, 4, 3, 6, 4, 3, 6, 4, 3, 6, 4, 1, 0, 4, 2, 0, 5, 1, 4})
	f.Add([]byte{0, 9, 8, 1, 8, 4, 8, 2, 8, 130, 8, 5, 8, 0, 4, 1, 0, 7, 6, 7, 10, 7, 4, 4})
	// provider 0 silent until it fails an audit, then its piece moves to provider 6
	silent := []byte{0, 39}
	for range 30 {
		silent = append(silent, 3, 0, 4, 0)
	}
	f.Add(append(silent, 6, 36, 4, 0, 1, 0, 4, 0))
	// renewals: by the owner (odd), short (multiples of 3), by strangers
	// (even); blocks past the old expiries
	renew := []byte{0, 3, 0, 20, 4, 0, 7, 31, 7, 9, 7, 8, 7, 5, 4, 0, 7, 2, 7, 13}
	for range 40 {
		renew = append(renew, 3, 1, 4, 0)
	}
	f.Add(append(renew, 7, 1, 2, 0, 7, 1, 4, 0))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 200 {
			return
		}
		w := newStorageWorld(t)
		var deals []string
		arg := func(i int) byte {
			if i+1 < len(ops) {
				return ops[i+1]
			}
			return 0
		}
		for i := 0; i < len(ops); i += 2 {
			b := arg(i)
			switch ops[i] % 9 {
			case 0: // open a deal
				m := w.deal(w.height+5+int64(b%40), 0)
				m.Object = bytes.Repeat([]byte{b, byte(i)}, 16)
				m.Deposit = 18*uint64(m.Expiry-w.height) + uint64(b)*7
				if w.exec(w.tenant, m) == nil {
					deals = append(deals, DealID(w.tenant.Address(), m.Object))
				}
			case 1, 2: // close one: its owner, or a stranger (refused)
				if len(deals) == 0 {
					continue
				}
				id := deals[int(b)%len(deals)]
				who := w.tenant
				if ops[i]%7 == 2 {
					who = w.provs[int(b)%len(w.provs)]
				}
				d, _ := Reader{w.kv}.Deal(id)
				err := w.exec(who, &CloseStorageDeal{Deal: id})
				if (err == nil) != (who == w.tenant && d.State == DealActive) {
					t.Fatalf("close of %s deal by owner=%v: %v", d.State, who == w.tenant, err)
				}
			case 3: // heartbeats and proofs, one provider silent
				w.answer(map[wallet.Address]bool{w.provs[int(b)%len(w.provs)].Address(): true}, nil)
			case 4:
				w.endBlock()
			case 5:
				w.exec(w.provs[int(b)%len(w.provs)], &Withdraw{})
			case 6: // a repair worker moves a piece (refused unless it is unhealthy)
				if len(deals) == 0 {
					continue
				}
				d, _ := Reader{w.kv}.Deal(deals[int(b)%len(deals)])
				pi, to := int(b)%6, w.provs[int(b/6)%len(w.provs)]
				sig := to.Sign(ReceiptDomain, ReceiptBytes(d.ID, d.Segments[0].Pieces[pi].ID, testPieceSize))
				w.exec(key(t, 99), &RepairDeal{Deal: d.ID, Segment: 0, Piece: uint32(pi), Provider: to.Address(), Key: to.PubKey(), Signature: sig})
			case 7: // renew one: its owner (b odd) or a stranger, sometimes short
				if len(deals) == 0 {
					continue
				}
				d, _ := Reader{w.kv}.Deal(deals[int(b)%len(deals)])
				who := w.tenant
				if b%2 == 0 {
					who = w.provs[int(b/2)%len(w.provs)]
				}
				m := &RenewStorageDeal{Deal: d.ID, Expiry: d.Expiry + int64(b%32), Deposit: 18*uint64(b%32) + uint64(b%5)*40}
				if b%3 == 0 {
					m.Deposit = 1
				}
				err := w.exec(who, m)
				if err == nil && (who != w.tenant || d.State != DealActive) {
					t.Fatalf("renewal of a %s deal by owner=%v accepted", d.State, who == w.tenant)
				}
				if r, _ := (Reader{w.kv}).Deal(d.ID); err == nil && (r.Expiry != m.Expiry || r.Escrow < 18*uint64(m.Expiry-w.height)) {
					t.Fatalf("renewed to %d: %+v", m.Expiry, r)
				}
			case 8: // an index pointer set or cleared, by the tenant or a provider, naming a deal or not
				who := w.tenant
				if b&0x80 != 0 {
					who = w.provs[int(b)%len(w.provs)]
				}
				m := &SetIndex{Name: "b" + utoa(uint64(b%3)), Version: uint64(b%16) + 1, Object: []byte{b}}
				if b%5 == 0 {
					m.Object = nil
				} else if b%2 == 0 && len(deals) > 0 {
					m.Deal = deals[int(b)%len(deals)]
				}
				prev, had := Reader{w.kv}.IndexPointer(who.Address(), m.Name)
				err := w.exec(who, m)
				cur, has := Reader{w.kv}.IndexPointer(who.Address(), m.Name)
				switch {
				case err != nil && (had != has || (had && (prev.Version != cur.Version || !bytes.Equal(prev.Object, cur.Object) || prev.Deal != cur.Deal))):
					t.Fatalf("refused %+v changed the pointer %+v → %+v", m, prev, cur)
				case err == nil && m.Object == nil && (has || !had || m.Version < prev.Version):
					t.Fatalf("removal %+v of %+v left %+v", m, prev, cur)
				case err == nil && m.Object != nil && (!has || cur.Version != m.Version || (had && prev.Version >= m.Version)):
					t.Fatalf("set %+v over %+v gave %+v", m, prev, cur)
				}
			}
		}
		w.endBlock()
		for _, id := range deals {
			d, _ := Reader{w.kv}.Deal(id)
			if d.State != DealActive && d.Escrow != 0 {
				t.Fatalf("ended deal holds escrow: %+v", d)
			}
			// A renewed deal ends at its latest expiry, never at an
			// earlier one's agenda item.
			if d.State == DealActive && d.Expiry < w.height || d.State == DealExpired && d.Ended != d.Expiry {
				t.Fatalf("deal outlived or ended before its expiry at height %d: %+v", w.height, d)
			}
		}
		for _, p := range w.provs {
			for _, ch := range (Reader{w.kv}).Challenges(p.Address()) {
				if d, _ := (Reader{w.kv}).Deal(ch.Deal); d.State != DealActive {
					t.Fatalf("open challenge on a %s deal: %+v", d.State, ch)
				}
			}
		}
	})
}

// TestRepairFee: a repair worker is paid RepairFeePerPiece out of the
// escrow left after the providers were paid up to the repair, at most
// that escrow; the owner repairing its own deal is not paid.
func TestRepairFee(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fee   uint64
		owner bool
	}{{"fee", 777, false}, {"capped by the escrow", 1 << 60, false}, {"owner unpaid", 777, true}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newStorageWorld(t)
			prm := Reader{w.kv}.Params()
			prm.RepairFeePerPiece = tc.fee
			if err := SetParams(w.kv, prm); err != nil {
				t.Fatal(err)
			}
			w.must(w.tenant, w.deal(w.height+50, 18*50+5_000))
			d := w.lastDeal()
			w.endBlock()
			w.must(w.provs[0], &Deregister{}) // its piece is unhealthy: anyone may move it
			for range 5 {
				w.endBlock()
			}
			worker, fresh := key(t, 99), w.provs[6]
			if tc.owner {
				worker = w.tenant
			}
			before := w.bank[worker.Address()]
			mv := &RepairDeal{Deal: d.ID, Segment: 0, Piece: 0, Provider: fresh.Address(), Key: fresh.PubKey(),
				Signature: fresh.Sign(ReceiptDomain, ReceiptBytes(d.ID, d.Segments[0].Pieces[0].ID, testPieceSize))}
			w.must(worker, mv)
			after, _ := Reader{w.kv}.Deal(d.ID)
			left := d.Escrow - after.Paid // the deposit less what providers earned up to the repair
			want := min(tc.fee, left)
			if tc.owner {
				want = 0
			}
			if got := w.bank[worker.Address()] - before; got != want || after.RepairPaid != want || after.Escrow != left-want {
				t.Fatalf("worker got %d, deal repair_paid %d escrow %d; want fee %d of %d left", got, after.RepairPaid, after.Escrow, want, left)
			}
			w.endBlock() // conservation
		})
	}
}
