package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/merkle"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// TestStorageThroughABCI runs a 4+2 deal with real Merkle roots through
// the app: every provider answers its challenges except one, which is
// slashed and flagged; a repair moves its piece; the deal expires and
// refunds. The supply invariant is checked after every block (runBlock),
// and market.Reader.Audit checks storage escrow and books.
func TestStorageThroughABCI(t *testing.T) {
	var mp market.Params
	a, m, tenant, provs := storageChain(t, 7, func(p *market.Params) {
		p.MinStake, p.AuditWindow, p.AuditsPerBlock = 1000, 3, 6
		mp = *p
	})

	// One segment of six 16 KiB + 3 byte pieces.
	pieces := map[string][]byte{}
	deal := &market.StorageDeal{Object: bytes.Repeat([]byte{1}, 32), K: 4, M: 2, PricePerMiB: 5, Expiry: 60, Deposit: 1_000_000}
	seg := market.DealSegmentMsg{Size: 16<<10 + 3}
	for i := range 6 {
		data := bytes.Repeat([]byte{byte(i + 1)}, int(seg.Size))
		data[i] = 0
		id := fmt.Sprintf("%x", merkle.Root(data))
		pieces[id] = data
		deal.Providers = append(deal.Providers, provs[i].Address())
		seg.Pieces = append(seg.Pieces, market.DealPieceMsg{ID: id, Root: merkle.Root(data), Provider: uint32(i)})
	}
	deal.Segments = []market.DealSegmentMsg{seg}
	// First a deal closed early by its owner: a stranger may not; the
	// owner gets the escrow back less what the providers earned so far.
	deal2 := *deal
	deal2.Object = bytes.Repeat([]byte{2}, 32)
	mustOK(t, runBlock(t, a, nil, m.tx(tenant, market.TypeStorageDeal, &deal2)))
	id2 := market.DealID(tenant.Address(), deal2.Object)
	runBlock(t, a, nil)
	closeTx := func(k *wallet.Key) []byte {
		return m.tx(k, market.TypeCloseStorageDeal, &market.CloseStorageDeal{Deal: id2})
	}
	if res := runBlock(t, a, nil, closeTx(provs[0])); res.TxResults[0].Code != market.CodeUnauthorized {
		t.Fatalf("a stranger's close: code %d %s", res.TxResults[0].Code, res.TxResults[0].Log)
	}
	ct := closeTx(tenant)
	if code := checkTx(t, a, ct); code != CodeOK {
		t.Fatalf("CheckTx close: %d", code)
	}
	res := runBlock(t, a, nil, ct)
	mustOK(t, res)
	var d2 market.Deal
	m.query(t, QueryDeal, id2, &d2)
	if d2.State != market.DealClosed || d2.Escrow != 0 || d2.Refund != deal2.Deposit-d2.Paid || d2.Paid == 0 {
		t.Fatalf("closed deal: %+v", d2)
	}
	var refund string
	for _, ev := range res.TxResults[0].Events {
		if ev.Type == market.EventDeal && ev.Attributes[0].Value == market.DealClosed {
			for _, at := range ev.Attributes {
				if at.Key == "refund" {
					refund = at.Value
				}
			}
		}
	}
	if refund != fmt.Sprint(d2.Refund) {
		t.Fatalf("close event says refund %q, the deal %d", refund, d2.Refund)
	}
	if res := runBlock(t, a, nil, closeTx(tenant)); res.TxResults[0].Code != market.CodeState {
		t.Fatalf("second close: code %d", res.TxResults[0].Code)
	}

	dealTx := m.tx(tenant, market.TypeStorageDeal, deal)
	if len(dealTx) > MaxTxBytes*2/3 {
		t.Errorf("a one-segment 4+2 deal is %d bytes of %d", len(dealTx), MaxTxBytes)
	}
	if code := checkTx(t, a, dealTx); code != CodeOK {
		t.Fatalf("CheckTx deal: %d", code)
	}
	mustOK(t, runBlock(t, a, nil, dealTx))
	var deals []market.Deal
	m.query(t, QueryDeals, tenant.Address().String(), &deals)
	id := market.DealID(tenant.Address(), deal.Object)
	if len(deals) != 2 || deals[1].ID != id || deals[1].State != market.DealActive {
		t.Fatalf("deals: %+v", deals)
	}

	silent := provs[0].Address()
	var biggest int
	var flagged bool
	for h := 0; h < 40 && !flagged; h++ {
		var txs [][]byte
		for _, p := range provs[:6] {
			txs = append(txs, m.tx(p, market.TypeHeartbeat, &market.Heartbeat{}))
			if p.Address() == silent {
				continue
			}
			var chs []market.Challenge
			m.query(t, QueryChallenges, p.Address().String(), &chs)
			for _, ch := range chs {
				data := pieces[ch.PieceID]
				path, _ := merkle.Proof(data, ch.Leaf)
				off := ch.Leaf * merkle.LeafSize
				tx := m.tx(p, market.TypeAuditProof, &market.AuditProof{Deal: ch.Deal, Segment: ch.Segment, Piece: ch.Piece,
					Leaf: ch.Leaf, Data: data[off : off+merkle.LeafLen(uint64(len(data)), ch.Leaf)], Path: path})
				biggest = max(biggest, len(tx))
				txs = append(txs, tx)
			}
		}
		mustOK(t, runBlock(t, a, nil, txs...))
		var d market.Deal
		m.query(t, QueryDeal, id, &d)
		flagged = d.Repair
	}
	if !flagged {
		t.Fatal("the silent provider's deal was never flagged")
	}
	if biggest == 0 || biggest > MaxTxBytes {
		t.Fatalf("largest audit proof tx: %d bytes (limit %d)", biggest, MaxTxBytes)
	}
	t.Logf("deal tx %d bytes, largest audit proof tx %d bytes", len(dealTx), biggest)
	var repair []market.Deal
	m.query(t, QueryRepairDeals, "", &repair)
	if len(repair) != 1 || repair[0].ID != id {
		t.Fatalf("repair list: %+v", repair)
	}
	var sp market.Provider
	m.query(t, QueryProvider, silent.String(), &sp)
	if sp.Stake != 100_000-mp.AuditSlash {
		t.Fatalf("silent provider's stake %d", sp.Stake)
	}
	// A repair worker (the tenant's other key here: anyone) moves the piece.
	worker, fresh := seededKey(t, 2), provs[6]
	mustOK(t, runBlock(t, a, nil, m.tx(tenant, TxTypeTransfer, &Transfer{To: worker.Address(), Amount: 1000})))
	pid := repair[0].Segments[0].Pieces[0].ID
	mv := &market.RepairDeal{Deal: id, Segment: 0, Piece: 0, Provider: fresh.Address(), Key: fresh.PubKey(),
		Signature: fresh.Sign(market.ReceiptDomain, market.ReceiptBytes(id, pid, seg.Size))}
	mustOK(t, runBlock(t, a, nil, m.tx(fresh, market.TypeHeartbeat, &market.Heartbeat{}), m.tx(worker, market.TypeRepairDeal, mv)))
	var d market.Deal
	m.query(t, QueryDeal, id, &d)
	if d.Repair || d.Segments[0].Pieces[0].Provider != fresh.Address() {
		t.Fatalf("after repair: %+v", d)
	}
	// The worker was paid the repair fee from the deal's escrow.
	if got := account(t, a, worker.Address()).Balance; d.RepairPaid != mp.RepairFeePerPiece || got != 1000-10+mp.RepairFeePerPiece {
		t.Fatalf("repair worker balance %d, deal repair_paid %d; want the fee %d", got, d.RepairPaid, mp.RepairFeePerPiece)
	}
	for a.height < 61 {
		runBlock(t, a, nil)
	}
	m.query(t, QueryDeal, id, &d)
	if d.State != market.DealExpired || d.Escrow != 0 {
		t.Fatalf("after expiry: %+v", d)
	}
	var p Params
	m.query(t, QueryParams, "", &p)
	if _, err := (market.Reader{KV: committedKV{a}}).Audit(nil); err != nil {
		t.Fatal(err)
	}
}

func mustOK(t *testing.T, res *abci.FinalizeBlockResponse) {
	t.Helper()
	for i, r := range res.TxResults {
		if r.Code != CodeOK {
			t.Fatalf("tx %d: code %d %s", i, r.Code, r.Log)
		}
	}
}

// storageChain is an in-memory app whose genesis funds a tenant and n
// providers with tweak applied to the market parameters, after a block in
// which every provider registered 64 MiB of storage at 1 uvis per MiB.
func storageChain(t *testing.T, n int, tweak func(*market.Params)) (*App, *marketFixture, *wallet.Key, []*wallet.Key) {
	t.Helper()
	a := NewInMemory()
	tenant := seededKey(t, 1)
	var provs []*wallet.Key
	g := Genesis{MinFee: 10, Balances: []GenesisBalance{{Address: tenant.Address(), Amount: 10_000_000}}}
	for i := range n {
		k := seededKey(t, byte(20+i))
		provs = append(provs, k)
		g.Balances = append(g.Balances, GenesisBalance{Address: k.Address(), Amount: 1_000_000})
	}
	mp := market.DefaultParams()
	tweak(&mp)
	g.Market = &mp
	raw, _ := json.Marshal(g)
	if _, err := a.InitChain(ctx, &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: raw}); err != nil {
		t.Fatal(err)
	}
	runBlock(t, a, nil)
	m := &marketFixture{a: a, nonce: map[wallet.Address]uint64{}}
	var txs [][]byte
	for _, p := range provs {
		o := testOffer(t)
		o.Storage, o.Prices.StorageMiB = 64<<20, 1
		txs = append(txs, m.tx(p, market.TypeRegister, &market.Register{Offer: o, Stake: 100_000}))
	}
	mustOK(t, runBlock(t, a, nil, txs...))
	return a, m, tenant, provs
}
