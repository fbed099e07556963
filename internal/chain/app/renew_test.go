package app

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/merkle"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// TestStorageRenewThroughABCI renews a deal through the app: a stranger
// is refused, a short deposit is refused naming the shortfall, a deposit
// beyond the balance fails CheckTx; the owner's renewal moves exactly the
// deposit (and the fee) into escrow, the deal outlives its old expiry and
// expires at the new one. runBlock checks the supply after every block.
func TestStorageRenewThroughABCI(t *testing.T) {
	a, m, tenant, provs := storageChain(t, 6, func(mp *market.Params) {
		mp.MinStake, mp.AuditsPerBlock, mp.Grace = 1000, 0, 1000 // providers stay active: every piece is paid
	})

	const rate = 6 * 5                                                                                                           // six pieces of one started MiB at 5 uvis
	deal := &market.StorageDeal{Object: bytes.Repeat([]byte{3}, 32), K: 4, M: 2, PricePerMiB: 5, Expiry: 30, Deposit: rate * 27} // exactly: it opens at height 3
	seg := market.DealSegmentMsg{Size: 16<<10 + 3}
	for i := range 6 {
		data := bytes.Repeat([]byte{byte(i + 1)}, int(seg.Size))
		deal.Providers = append(deal.Providers, provs[i].Address())
		seg.Pieces = append(seg.Pieces, market.DealPieceMsg{ID: fmt.Sprintf("%x", merkle.Root(data)), Root: merkle.Root(data), Provider: uint32(i)})
	}
	deal.Segments = []market.DealSegmentMsg{seg}
	mustOK(t, runBlock(t, a, nil, m.tx(tenant, market.TypeStorageDeal, deal)))
	id := market.DealID(tenant.Address(), deal.Object)
	runBlock(t, a, nil)

	renew := func(k *wallet.Key, expiry int64, deposit uint64) []byte {
		return m.tx(k, market.TypeRenewStorageDeal, &market.RenewStorageDeal{Deal: id, Expiry: expiry, Deposit: deposit})
	}
	if code := checkTx(t, a, NewTx(tenant, testChainID, market.TypeRenewStorageDeal,
		&market.RenewStorageDeal{Deal: id, Expiry: 60, Deposit: 1 << 40}, 10, m.nonce[tenant.Address()]).Encode()); code == CodeOK {
		t.Fatal("CheckTx accepted a deposit beyond the balance")
	}
	res := runBlock(t, a, nil, renew(provs[0], 60, rate*30), renew(tenant, 60, rate*30-7))
	if r := res.TxResults[0]; r.Code != market.CodeUnauthorized {
		t.Fatalf("a stranger's renewal: code %d %s", r.Code, r.Log)
	}
	if r := res.TxResults[1]; r.Code != market.CodeFunds || !strings.Contains(r.Log, "is 7 uvis short") {
		t.Fatalf("a short renewal: code %d %s", r.Code, r.Log)
	}
	before := account(t, a, tenant.Address()).Balance
	tx := renew(tenant, 60, rate*30)
	if code := checkTx(t, a, tx); code != CodeOK {
		t.Fatalf("CheckTx renew: %d", code)
	}
	res = runBlock(t, a, nil, tx)
	mustOK(t, res)
	h := a.height
	if got := before - account(t, a, tenant.Address()).Balance; got != rate*30+10 {
		t.Fatalf("the renewal took %d uvis, want the deposit %d and the fee 10", got, rate*30)
	}
	var d market.Deal
	m.query(t, QueryDeal, id, &d)
	if d.State != market.DealActive || d.Expiry != 60 || d.Escrow != rate*uint64(60-h) {
		t.Fatalf("renewed at %d: %+v", h, d)
	}
	var expiry string
	for _, ev := range res.TxResults[0].Events {
		if ev.Type == market.EventDeal && ev.Attributes[0].Value == "renewed" {
			for _, at := range ev.Attributes {
				if at.Key == "expiry" {
					expiry = at.Value
				}
			}
		}
	}
	if expiry != "60" {
		t.Fatalf("renewal event says expiry %q", expiry)
	}
	for a.height < 45 {
		runBlock(t, a, nil)
	}
	if m.query(t, QueryDeal, id, &d); d.State != market.DealActive {
		t.Fatalf("past the old expiry: %+v", d)
	}
	for a.height < 61 {
		runBlock(t, a, nil)
	}
	if m.query(t, QueryDeal, id, &d); d.State != market.DealExpired || d.Ended != 60 || d.Escrow != 0 {
		t.Fatalf("after the new expiry: %+v", d)
	}
	if _, err := (market.Reader{KV: committedKV{a}}).Audit(nil); err != nil {
		t.Fatal(err)
	}
}
