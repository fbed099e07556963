package market

import (
	"strings"
	"testing"
)

// TestRenewStorageDeal: only the owner renews an active deal; a deposit
// that leaves the escrow short is refused naming the shortfall; a renewed
// deal outlives its old expiry (the old agenda item does nothing), is
// still audited and paid, and expires at the new height with the whole
// escrow earned.
func TestRenewStorageDeal(t *testing.T) {
	w := newStorageWorld(t)
	const rate = 18 // 6 pieces × 1 started MiB × 3 uvis
	w.must(w.tenant, w.deal(w.height+20, rate*20))
	d := w.lastDeal()
	for range 5 {
		w.answer(nil, nil)
		w.endBlock()
	}
	h, old := w.height, d.Expiry
	for _, tc := range []struct {
		name string
		by   int // -1: the owner
		m    RenewStorageDeal
		code uint32
	}{
		{"stranger", 0, RenewStorageDeal{Deal: d.ID, Expiry: old + 30, Deposit: rate * 30}, CodeUnauthorized},
		{"unknown", -1, RenewStorageDeal{Deal: "aaaaaaaaaaaaaaaa", Expiry: old + 30, Deposit: rate * 30}, CodeNotFound},
		{"malformed", -1, RenewStorageDeal{Deal: "../x", Expiry: old + 30, Deposit: rate * 30}, CodeInvalid},
		{"earlier", -1, RenewStorageDeal{Deal: d.ID, Expiry: old - 1, Deposit: rate * 30}, CodeInvalid},
		{"no deposit", -1, RenewStorageDeal{Deal: d.ID, Expiry: old + 30}, CodeInvalid},
		{"short", -1, RenewStorageDeal{Deal: d.ID, Expiry: old + 30, Deposit: rate*30 - 1}, CodeFunds},
		{"beyond the balance", -1, RenewStorageDeal{Deal: d.ID, Expiry: old + 30, Deposit: 1 << 62}, CodeFunds},
	} {
		who := w.tenant
		if tc.by >= 0 {
			who = w.provs[tc.by]
		}
		err := w.exec(who, &tc.m)
		if code(err) != tc.code {
			t.Fatalf("%s: %v, want code %d", tc.name, err, tc.code)
		}
		if tc.name == "short" && !strings.Contains(err.Error(), "is 1 uvis short") {
			t.Fatalf("short deposit: %q does not name the shortfall", err)
		}
	}
	before := w.bank[w.tenant.Address()]
	w.must(w.tenant, &RenewStorageDeal{Deal: d.ID, Expiry: old + 30, Deposit: rate * 30})
	if got := before - w.bank[w.tenant.Address()]; got != rate*30 {
		t.Fatalf("renewal took %d uvis, want %d", got, rate*30)
	}
	r, _ := Reader{w.kv}.Deal(d.ID)
	if r.State != DealActive || r.Expiry != old+30 || r.SettledAt != h || r.Escrow != rate*uint64(old+30-h) {
		t.Fatalf("renewed at %d: %+v", h, r)
	}
	if e := w.events[len(w.events)-1]; e.Type != EventDeal || e.Attrs[0].Value != "renewed" || e.Attrs[3].Value != itoa(old+30) {
		t.Fatalf("renewal event %v", e)
	}
	challenged := 0
	for w.height < old+30 {
		w.answer(nil, nil)
		mark := len(w.events)
		w.endBlock()
		for _, e := range w.events[mark:] {
			if e.Type == EventAudit && e.Attrs[0].Value == "challenge" && e.Attrs[1].Value == d.ID && w.height-1 > old {
				challenged++
			}
		}
		if r, _ := (Reader{w.kv}).Deal(d.ID); r.State != DealActive {
			t.Fatalf("renewed deal ended at height %d (old expiry %d): %+v", w.height-1, old, r)
		}
	}
	if challenged == 0 {
		t.Fatal("the renewed deal was never audited after its old expiry")
	}
	w.endBlock() // the new expiry
	r, _ = Reader{w.kv}.Deal(d.ID)
	if r.State != DealExpired || r.Ended != old+30 || r.Paid != rate*uint64(old+30-d.Created) || r.Refund != 0 || r.Escrow != 0 {
		t.Fatalf("at the new expiry %d: %+v", old+30, r)
	}
	if err := w.exec(w.tenant, &RenewStorageDeal{Deal: d.ID, Expiry: old + 60, Deposit: rate * 60}); code(err) != CodeState {
		t.Fatalf("renewing an expired deal: %v", err)
	}
}

// TestRenewTopUp: a renewal to the same expiry only adds escrow, which is
// how an owner restores escrow a repair fee took; a closed deal cannot be
// renewed.
func TestRenewTopUp(t *testing.T) {
	w := newStorageWorld(t)
	prm := Reader{w.kv}.Params()
	prm.RepairFeePerPiece = 100
	if err := SetParams(w.kv, prm); err != nil {
		t.Fatal(err)
	}
	w.must(w.tenant, w.deal(w.height+50, 18*50))
	d := w.lastDeal()
	w.endBlock()
	w.must(w.provs[0], &Deregister{}) // its piece is unhealthy: anyone may move it
	w.endBlock()
	fresh := w.provs[6]
	w.must(key(t, 99), &RepairDeal{Deal: d.ID, Segment: 0, Piece: 0, Provider: fresh.Address(), Key: fresh.PubKey(),
		Signature: fresh.Sign(ReceiptDomain, ReceiptBytes(d.ID, d.Segments[0].Pieces[0].ID, testPieceSize))})
	r, _ := Reader{w.kv}.Deal(d.ID)
	need := 18 * uint64(d.Expiry-w.height)
	if r.Escrow >= need {
		t.Fatalf("the repair fee left escrow %d, need %d: the test proves nothing", r.Escrow, need)
	}
	short := need - r.Escrow
	err := w.exec(w.tenant, &RenewStorageDeal{Deal: d.ID, Expiry: d.Expiry, Deposit: short - 1})
	if code(err) != CodeFunds || !strings.Contains(err.Error(), "is 1 uvis short") {
		t.Fatalf("top-up one short of %d: %v", short, err)
	}
	w.must(w.tenant, &RenewStorageDeal{Deal: d.ID, Expiry: d.Expiry, Deposit: short})
	if r, _ = (Reader{w.kv}).Deal(d.ID); r.Expiry != d.Expiry || r.Escrow != need {
		t.Fatalf("after the top-up: %+v, want escrow %d", r, need)
	}
	w.endBlock()
	w.must(w.tenant, &CloseStorageDeal{Deal: d.ID})
	if err := w.exec(w.tenant, &RenewStorageDeal{Deal: d.ID, Expiry: d.Expiry, Deposit: 1}); code(err) != CodeState {
		t.Fatalf("renewing a closed deal: %v", err)
	}
	w.endBlock()
}
