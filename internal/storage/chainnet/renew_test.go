package chainnet_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage/chainnet"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

// TestStoreRenewOnChain runs objects.Client over the "chain" network
// against a real CometBFT node and six piece stores: renewing a bucket
// renews each deal once (a copy shares its source's deal), moves each
// expiry by the default deal length and leaves escrow covering the new
// expiry; the tenant pays exactly the deposits and fees; a renewal the
// balance cannot pay and one of a closed deal fail with their classes.
func TestStoreRenewOnChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a chain node")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tenant := mustKey(t)
	rpc, cc, _, _ := startStorageChain(t, ctx, "renew-e2e", tenant)

	c, put, deal := bucketClient(t, ctx, rpc, cc, tenant, nil)
	balance := func() uint64 {
		t.Helper()
		a, err := cc.Account(ctx, tenant.Address())
		if err != nil {
			t.Fatal(err)
		}
		return a.Balance
	}
	a, b := put("a"), put("b")
	if _, err := c.Copy(ctx, "bkt", "a", "bkt", "a2", objects.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	old := map[string]int64{a: deal(a).Expiry, b: deal(b).Expiry}

	before := balance()
	var progress []string
	rs, err := c.Renew(ctx, "bkt", "", 0, func(obj string, r objects.RenewedDeal) { progress = append(progress, obj) })
	if err != nil || len(rs) != 2 || len(progress) != 2 {
		t.Fatalf("renewing the bucket: %+v (progress %v) %v", rs, progress, err)
	}
	var deposits uint64
	for _, r := range rs {
		d := deal(r.Deal)
		h, _ := cc.Height(ctx)
		rate, _ := d.Rate()
		if r.OldExpiry != old[r.Deal] || r.Expiry != old[r.Deal]+5000 || d.Expiry != r.Expiry || d.State != market.DealActive ||
			r.Escrow != d.Escrow || r.Deposit == 0 || d.Escrow+rate*uint64(h-d.SettledAt) < rate*uint64(d.Expiry-h) {
			t.Fatalf("renewed %+v, chain %+v at height %d", r, d, h)
		}
		deposits += r.Deposit
	}
	if got := before - balance(); got != deposits+2*10 {
		t.Fatalf("the tenant paid %d, want the deposits %d and two 10 uvis fees", got, deposits)
	}

	// One object, by 100 blocks; the network reports the result.
	rs, err = c.Renew(ctx, "bkt", "b", 100, nil)
	if err != nil || len(rs) != 1 || rs[0].Deal != b || rs[0].Expiry != old[b]+5100 {
		t.Fatalf("renewing bkt/b: %+v %v", rs, err)
	}
	st, err := c.Net.(objects.DealRenewer).DealStatus(ctx, b)
	if err != nil || st.Expiry != old[b]+5100 || st.State != market.DealActive || st.Escrow != deal(b).Escrow {
		t.Fatalf("status %+v %v", st, err)
	}
	// More than the balance holds.
	if _, err := c.Renew(ctx, "bkt", "b", 1<<33, nil); !errors.Is(err, objects.ErrFunds) {
		t.Fatalf("renewal beyond the balance: %v", err)
	}
	// A closed deal.
	if r, err := c.Delete(ctx, "bkt", "b"); err != nil || len(r.Closed) != 1 {
		t.Fatalf("delete: %+v %v", r, err)
	}
	if _, err := c.Net.(objects.DealRenewer).RenewDeal(ctx, b, 10); !errors.Is(err, objects.ErrDealEnded) {
		t.Fatalf("renewing a closed deal: %v", err)
	}
	if d := deal(b); d.Expiry != old[b]+5100 {
		t.Fatalf("the failed renewals changed the deal: %+v", d)
	}

	// RenewWithin: a deal ending after the window is skipped with its
	// expiry; widened to reach it, the deal (shared by a and a2) is
	// renewed once by deal_blocks.
	h, err := cc.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.RenewWithin(ctx, 10, nil)
	objs := func() []objects.Renewal {
		var out []objects.Renewal
		for _, r := range rep.Renewals {
			if r.Kind == "object" {
				out = append(out, r)
			}
		}
		return out
	}
	if o := objs(); err != nil || rep.Height < h || len(o) != 1 || o[0].Deal != a || o[0].Action != objects.Skipped ||
		o[0].Expiry != old[a]+5000 || rep.Renewed != 0 {
		t.Fatalf("renew within 10 at height %d: %+v %v", h, rep, err)
	}
	rep, err = c.RenewWithin(ctx, old[a]+5000, nil)
	if o := objs(); err != nil || len(o) != 1 || o[0].Deal != a || o[0].Action != objects.Renewed ||
		o[0].OldExpiry != old[a]+5000 || o[0].Expiry != old[a]+10000 || deal(a).Expiry != old[a]+10000 || o[0].Deposit == 0 {
		t.Fatalf("renew within the deal's expiry: %+v %v", rep, err)
	}
}

// TestRenewDeposit: the deposit tops the escrow left after settling up to
// the client's height up to the rate until the new expiry, counts every
// piece as paid, and is at least 1.
func TestRenewDeposit(t *testing.T) {
	d := market.Deal{ID: "aaaaaaaaaaaaaaaa", PricePerMiB: 3, SettledAt: 100, Escrow: 18 * 50,
		Segments: []market.DealSegment{{Size: 1 << 20, Pieces: make([]market.StoredPiece, 6)}}} // 18 uvis per block
	for _, tc := range []struct {
		name           string
		height, expiry int64
		escrow         uint64
		want           uint64
	}{
		{"extend", 100, 250, 18 * 50, 18 * 100},
		{"settles first", 110, 250, 18 * 50, 18 * 100}, // 18×140 needed, 18×40 left
		{"escrow spent", 200, 250, 18 * 50, 18 * 50},
		{"repair fee taken", 100, 150, 18*50 - 7, 7},
		{"covered already", 100, 120, 18 * 50, 1},
	} {
		d.Escrow = tc.escrow
		got, err := chainnet.RenewDeposit(d, tc.height, tc.expiry)
		if err != nil || got != tc.want {
			t.Errorf("%s: deposit %d %v, want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := chainnet.RenewDeposit(d, 300, 300); err == nil {
		t.Error("an expiry not after the height")
	}
}
