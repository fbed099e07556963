package app

import (
	"crypto/ecdh"
	"encoding/json"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

type marketFixture struct {
	fixture
	a     *App
	nonce map[wallet.Address]uint64
}

func newMarket(t *testing.T) *marketFixture {
	f := newFixture(t)
	a := NewInMemory()
	g := Genesis{MinFee: 10, Balances: []GenesisBalance{
		{Address: f.alice.Address(), Amount: 1_000_000},
		{Address: f.bob.Address(), Amount: 10_000_000},
	}}
	mp := market.DefaultParams()
	mp.MinStake = 1000
	g.Market = &mp
	raw, _ := json.Marshal(g)
	if _, err := a.InitChain(ctx, &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: raw}); err != nil {
		t.Fatal(err)
	}
	runBlock(t, a, nil)
	return &marketFixture{fixture: f, a: a, nonce: map[wallet.Address]uint64{}}
}

func (m *marketFixture) tx(k *wallet.Key, typ string, msg Msg) []byte {
	n := m.nonce[k.Address()]
	m.nonce[k.Address()]++
	return NewTx(k, testChainID, typ, msg, 10, n).Encode()
}

func (m *marketFixture) query(t *testing.T, path string, data string, out any) {
	t.Helper()
	res, err := m.a.Query(ctx, &abci.QueryRequest{Path: path, Data: []byte(data)})
	if err != nil || res.Code != CodeOK {
		t.Fatalf("query %s %s: %v %+v", path, data, err, res)
	}
	if err := json.Unmarshal(res.Value, out); err != nil {
		t.Fatal(err)
	}
}

func testOffer(t *testing.T) market.Offer {
	k, err := ecdh.X25519().NewPrivateKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return market.Offer{
		Endpoint: "http://127.0.0.1:7001", Ingress: "vimana.localhost:7002", X25519: k.PublicKey().Bytes(),
		Attributes: market.Attributes{Region: "local", Arch: "amd64", CPUModel: "AMD EPYC 7B13 64-Core Processor", Isolation: []string{"gvisor", "microvm", "sandbox"}},
		Capacity:   market.Resources{CPUMilli: 2000, MemoryMiB: 8192, DiskMiB: 65536},
		Prices:     market.Prices{CPUMilli: 1, MemoryMiB: 1, DiskGiB: 10},
	}
}

func TestMarketThroughABCI(t *testing.T) {
	m := newMarket(t)
	prov, tenant := m.bob, m.alice
	reg := m.tx(prov, market.TypeRegister, &market.Register{Offer: testOffer(t), Stake: 5000})
	if len(reg) > MaxTxBytes/2 {
		t.Errorf("a full registration is %d bytes; keep well under MaxTxBytes", len(reg))
	}
	if code := checkTx(t, m.a, reg); code != CodeOK {
		t.Fatalf("CheckTx register: %d", code)
	}
	order := &market.Create{Name: "hello", Image: "127.0.0.1:5000/hello@sha256:" + fmt.Sprintf("%064x", 7),
		Resources: market.Resources{CPUMilli: 500, MemoryMiB: 64, DiskMiB: 64},
		Ports:     []market.Port{{Port: 8080, Proto: "tcp"}}, Replicas: 1, MaxPrice: 1000, Deposit: 100_000}
	res := runBlock(t, m.a, nil, reg, m.tx(tenant, market.TypeOrder, order))
	for i, r := range res.TxResults {
		if r.Code != CodeOK {
			t.Fatalf("tx %d: %d %s", i, r.Code, r.Log)
		}
	}
	var open []market.Order
	m.query(t, QueryOpen, "", &open)
	if len(open) != 1 || open[0].OwnerKey == nil {
		t.Fatalf("open orders: %+v", open)
	}
	id := open[0].ID
	before := account(t, m.a, prov.Address())
	// A failing message still pays its fee and uses its nonce.
	bad := m.tx(prov, market.TypeBid, &market.BidMsg{Order: "aaaaaaaaaaaaaaaa", Price: 5})
	good := m.tx(prov, market.TypeBid, &market.BidMsg{Order: id, Price: 600})
	res = runBlock(t, m.a, nil, bad, good)
	if res.TxResults[0].Code != CodeNotFound || res.TxResults[1].Code != CodeOK {
		t.Fatalf("bids: %+v", res.TxResults)
	}
	after := account(t, m.a, prov.Address())
	if before.Balance-after.Balance != 20 || after.Nonce != before.Nonce+2 {
		t.Fatalf("failed bid: balance %d→%d nonce %d→%d", before.Balance, after.Balance, before.Nonce, after.Nonce)
	}
	var leased bool
	for _, ev := range res.Events {
		leased = leased || ev.Type == market.EventLease
	}
	if !leased {
		t.Fatalf("no lease event in %+v", res.Events)
	}
	var o market.Order
	m.query(t, QueryOrder, id, &o)
	if o.State != market.OrderLeased || *o.Provider != prov.Address() {
		t.Fatalf("order: %+v", o)
	}
	var leases []market.Order
	m.query(t, QueryLeases, prov.Address().String(), &leases)
	if len(leases) != 1 || leases[0].ID != id {
		t.Fatalf("provider leases: %+v", leases)
	}
	// The provider cannot close as the tenant; the tenant closes and is refunded.
	res = runBlock(t, m.a, nil, m.tx(tenant, market.TypeClose, &market.Close{Lease: id}))
	if res.TxResults[0].Code != CodeOK {
		t.Fatalf("close: %+v", res.TxResults[0])
	}
	m.query(t, QueryOrder, id, &o)
	if o.State != market.OrderClosed || o.Reason != market.ReasonClosedByTenant || o.Paid != 600 {
		t.Fatalf("closed order: %+v", o)
	}
	var p Params
	m.query(t, QueryParams, "", &p)
	if p.Held != 5600 {
		t.Fatalf("market holds %d, want the stake 5000 plus the unpaid 600 earned", p.Held)
	}
}
