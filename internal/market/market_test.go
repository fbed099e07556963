package market

import (
	"crypto/ecdh"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/vistara-labs/vimana/internal/wallet"
)

type memKV map[string][]byte

func (m memKV) Get(k string) []byte { return m[k] }
func (m memKV) Set(k string, v []byte) {
	if v == nil {
		delete(m, k)
		return
	}
	m[k] = v
}

type bank map[wallet.Address]uint64

func (b bank) Debit(a wallet.Address, amt uint64) error {
	if b[a] < amt {
		return ErrFunds
	}
	b[a] -= amt
	return nil
}
func (b bank) Credit(a wallet.Address, amt uint64) { b[a] += amt }

// world is a chain in miniature: it runs messages and blocks the way the
// app does (a failed message changes nothing) and checks conservation
// after every block.
type world struct {
	t      *testing.T
	kv     memKV
	bank   bank
	height int64
	supply uint64
	nonce  int
	owners []wallet.Address
	events []Event
}

func newWorld(t *testing.T, keys ...*wallet.Key) *world {
	w := &world{t: t, kv: memKV{}, bank: bank{}, height: 1}
	for _, k := range keys {
		w.bank[k.Address()] = 100_000_000
		w.supply += 100_000_000
		w.owners = append(w.owners, k.Address())
	}
	p := DefaultParams()
	p.MinStake = 1000
	if err := SetParams(w.kv, p); err != nil {
		t.Fatal(err)
	}
	return w
}

func key(t testing.TB, b byte) *wallet.Key {
	seed := make([]byte, 32)
	seed[0] = b
	k, err := wallet.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// exec runs m from k in the current block.
func (w *world) exec(k *wallet.Key, m Msg) error {
	w.nonce++
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", k.Address(), w.nonce))
	cache := memKV(maps.Clone(w.kv))
	cb := bank(maps.Clone(w.bank))
	c := &Ctx{Height: w.height, Sender: k.Address(), SenderKey: k.PubKey(), TxHash: h[:], KV: cache, Bank: cb}
	if err := Exec(c, m); err != nil {
		return err
	}
	w.kv, w.bank = cache, cb
	w.events = append(w.events, c.Events...)
	return nil
}

func (w *world) must(k *wallet.Key, m Msg) {
	w.t.Helper()
	if err := w.exec(k, m); err != nil {
		w.t.Fatalf("%T: %v", m, err)
	}
}

// endBlock ends the current block and starts the next.
func (w *world) endBlock() {
	w.t.Helper()
	c := &Ctx{Height: w.height, KV: w.kv, Bank: w.bank}
	EndBlock(c)
	w.events = append(w.events, c.Events...)
	w.height++
	w.checkConservation()
}

func (w *world) checkConservation() {
	w.t.Helper()
	held, err := Reader{w.kv}.Audit(w.owners)
	if err != nil {
		w.t.Fatalf("height %d: %v", w.height, err)
	}
	var balances uint64
	for _, v := range w.bank {
		balances += v
	}
	if balances+held != w.supply {
		w.t.Fatalf("height %d: balances %d + held %d != supply %d", w.height, balances, held, w.supply)
	}
}

func (w *world) lastOrderID() string {
	w.t.Helper()
	for i := len(w.events) - 1; i >= 0; i-- {
		e := w.events[i]
		if e.Type == EventOrder && e.Attrs[0].Value == "created" {
			return e.Attrs[1].Value
		}
	}
	w.t.Fatal("no order created")
	return ""
}

func (w *world) order(id string) *Order {
	w.t.Helper()
	o, ok := Reader{w.kv}.Order(id)
	if !ok {
		w.t.Fatalf("order %s missing", id)
	}
	return o
}

func offer(t testing.TB, region string, cpuPrice uint64) Offer {
	k, err := ecdh.X25519().NewPrivateKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return Offer{
		Endpoint: "http://127.0.0.1:1", Ingress: "vimana.localhost:2", X25519: k.PublicKey().Bytes(),
		Attributes: Attributes{Region: region, Arch: "amd64", Isolation: []string{"sandbox"}},
		Capacity:   Resources{CPUMilli: 2000, MemoryMiB: 4096, DiskMiB: 10240},
		Prices:     Prices{CPUMilli: cpuPrice, MemoryMiB: 1, DiskGiB: 1},
	}
}

func order(name string) *Create {
	return &Create{
		Name: name, Image: "127.0.0.1:5000/hello@sha256:" + fmt.Sprintf("%064x", 1),
		Resources: Resources{CPUMilli: 500, MemoryMiB: 64, DiskMiB: 64},
		Ports:     []Port{{Port: 8080, Proto: "tcp"}}, Replicas: 1, MaxPrice: 1000, Deposit: 100_000,
	}
}

func TestLeaseLifecycle(t *testing.T) {
	tenant, p1, p2 := key(t, 1), key(t, 2), key(t, 3)
	w := newWorld(t, tenant, p1, p2)
	w.must(p1, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	w.must(p2, &Register{Offer: offer(t, "us", 1), Stake: 5000})
	w.endBlock()
	w.must(tenant, order("hello"))
	id := w.lastOrderID()
	w.endBlock()
	// Bids arrive in the block the auction closes in.
	w.must(p1, &BidMsg{Order: id, Price: 600})
	w.must(p2, &BidMsg{Order: id, Price: 580})
	if err := w.exec(p1, &BidMsg{Order: id, Price: 2000}); err == nil || err.(*Error).Code != CodeInvalid {
		t.Fatalf("bid above max price: %v", err)
	}
	w.endBlock()
	o := w.order(id)
	if o.State != OrderLeased || *o.Provider != p2.Address() || o.Price != 580 {
		t.Fatalf("after auction: %+v", o)
	}
	leasedAt := o.LeasedAt
	for range 5 {
		w.must(p2, &Heartbeat{})
		w.endBlock()
	}
	// Another tenant cannot close or top up.
	if err := w.exec(p1, &Close{Lease: id}); err == nil || err.(*Error).Code != CodeUnauthorized {
		t.Fatalf("stranger close: %v", err)
	}
	before := w.bank[tenant.Address()]
	w.must(tenant, &Close{Lease: id})
	o = w.order(id)
	paid := 580 * uint64(w.height-leasedAt)
	if o.State != OrderClosed || o.Reason != ReasonClosedByTenant || o.Paid != paid {
		t.Fatalf("closed: %+v, want paid %d", o, paid)
	}
	if got := w.bank[tenant.Address()] - before; got != 100_000-paid {
		t.Fatalf("refund %d, want %d", got, 100_000-paid)
	}
	w.endBlock()
	b := w.bank[p2.Address()]
	w.must(p2, &Withdraw{})
	if w.bank[p2.Address()]-b != paid {
		t.Fatalf("withdrew %d, want %d", w.bank[p2.Address()]-b, paid)
	}
	if p, _ := (Reader{w.kv}).Provider(p2.Address()); p.Used != (Resources{}) || len(p.Leases) != 0 {
		t.Fatalf("provider still holds the lease: %+v", p)
	}
	w.endBlock()
}

func TestTieBreakByReputationThenHash(t *testing.T) {
	tenant, p1, p2 := key(t, 1), key(t, 2), key(t, 3)
	w := newWorld(t, tenant, p1, p2)
	w.must(p1, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	w.must(p2, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	// Lower p1's reputation by hand: equal prices must go to p2.
	p, _ := Reader{w.kv}.Provider(p1.Address())
	p.Reputation = 100
	st := newStore(w.kv)
	st.putProvider(p)
	st.flush()
	w.must(tenant, order("a"))
	id := w.lastOrderID()
	w.must(p1, &BidMsg{Order: id, Price: 700})
	w.must(p2, &BidMsg{Order: id, Price: 700})
	w.endBlock()
	w.endBlock()
	if o := w.order(id); o.State != OrderLeased || *o.Provider != p2.Address() {
		t.Fatalf("tie went to %v, want the more reputable %s", o.Provider, p2.Address())
	}
}

func TestConstraintsFilterBids(t *testing.T) {
	tenant, p1, p2 := key(t, 1), key(t, 2), key(t, 3)
	w := newWorld(t, tenant, p1, p2)
	w.must(p1, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	w.must(p2, &Register{Offer: offer(t, "us", 1), Stake: 5000})
	m := order("regional")
	m.Regions = []string{"us"}
	w.must(tenant, m)
	id := w.lastOrderID()
	if err := w.exec(p1, &BidMsg{Order: id, Price: 1}); err == nil || err.(*Error).Code != CodeCapacity {
		t.Fatalf("bid from a provider outside the region: %v", err)
	}
	m2 := order("isolated")
	m2.Isolation = "microvm"
	w.must(tenant, m2)
	if err := w.exec(p2, &BidMsg{Order: w.lastOrderID(), Price: 1}); err == nil {
		t.Fatal("bid from a provider without microvm accepted")
	}
	w.must(p2, &BidMsg{Order: id, Price: 900})
	w.endBlock()
	w.endBlock()
	if o := w.order(id); *o.Provider != p2.Address() {
		t.Fatalf("leased to %v", o.Provider)
	}
	big := order("huge")
	big.Resources.CPUMilli = 1800 // p2 has 1500 left
	w.must(tenant, big)
	if err := w.exec(p2, &BidMsg{Order: w.lastOrderID(), Price: 1}); err == nil || err.(*Error).Code != CodeCapacity {
		t.Fatalf("bid beyond free capacity: %v", err)
	}
}

func TestProviderLossReopensUnderSameID(t *testing.T) {
	tenant, p1, p2 := key(t, 1), key(t, 2), key(t, 3)
	w := newWorld(t, tenant, p1, p2)
	w.must(p1, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	w.must(p2, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	w.must(tenant, order("hello"))
	id := w.lastOrderID()
	w.must(p1, &BidMsg{Order: id, Price: 100})
	w.must(p2, &BidMsg{Order: id, Price: 200})
	w.endBlock()
	w.endBlock()
	if o := w.order(id); o.Provider == nil || *o.Provider != p1.Address() {
		t.Fatalf("leased to %v", o.Provider)
	}
	// p2 keeps heartbeating; p1 goes silent.
	grace := DefaultParams().Grace
	reopened := false
	for i := int64(0); i < grace+3 && !reopened; i++ {
		w.must(p2, &Heartbeat{})
		w.endBlock()
		reopened = w.order(id).State == OrderOpen
	}
	o := w.order(id)
	if !reopened || o.Reason != ReasonProviderLost || o.Provider != nil {
		t.Fatalf("after p1 went silent: %+v", o)
	}
	lost, _ := Reader{w.kv}.Provider(p1.Address())
	if lost.Status != ProviderLost || lost.Reputation >= InitialReputation || len(lost.Leases) != 0 {
		t.Fatalf("lost provider: %+v", lost)
	}
	if err := w.exec(p1, &BidMsg{Order: id, Price: 1}); err == nil {
		t.Fatal("lost provider may bid")
	}
	w.must(p2, &BidMsg{Order: id, Price: 200})
	w.endBlock()
	o = w.order(id)
	if o.State != OrderLeased || *o.Provider != p2.Address() || o.Leases != 2 {
		t.Fatalf("rescheduled: %+v", o)
	}
	// p1 comes back and may bid again later.
	w.must(p1, &Heartbeat{})
	if p, _ := (Reader{w.kv}).Provider(p1.Address()); p.Status != ProviderActive {
		t.Fatalf("heartbeat after loss: %s", p.Status)
	}
	w.endBlock()
}

func TestEscrowRunsOut(t *testing.T) {
	tenant, p1 := key(t, 1), key(t, 2)
	w := newWorld(t, tenant, p1)
	w.must(p1, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	m := order("short")
	m.Deposit, m.MaxPrice = 1050, 1000
	w.must(tenant, m)
	id := w.lastOrderID()
	w.must(p1, &BidMsg{Order: id, Price: 500})
	w.endBlock()
	closedAt := int64(0)
	for range 5 {
		w.must(p1, &Heartbeat{})
		w.endBlock()
		if o := w.order(id); o.State == OrderClosed && closedAt == 0 {
			closedAt = o.Closed
		}
	}
	o := w.order(id)
	if o.State != OrderClosed || o.Reason != ReasonEscrowEmpty || o.Paid != 1000 || closedAt != o.LeasedAt+2 {
		t.Fatalf("escrow should pay 2 blocks then close: %+v", o)
	}
	// Top-up is refused on a closed lease.
	if err := w.exec(tenant, &TopUp{Lease: id, Amount: 10}); err == nil || err.(*Error).Code != CodeState {
		t.Fatalf("top-up of closed lease: %v", err)
	}
}

func TestTopUpExtends(t *testing.T) {
	tenant, p1 := key(t, 1), key(t, 2)
	w := newWorld(t, tenant, p1)
	w.must(p1, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	m := order("short")
	m.Deposit, m.MaxPrice = 1000, 1000
	w.must(tenant, m)
	id := w.lastOrderID()
	w.must(p1, &BidMsg{Order: id, Price: 500})
	w.endBlock()
	w.must(tenant, &TopUp{Lease: id, Amount: 5000})
	for range 6 {
		w.must(p1, &Heartbeat{})
		w.endBlock()
	}
	if o := w.order(id); o.State != OrderLeased {
		t.Fatalf("topped-up lease closed early: %+v", o)
	}
	for range 10 {
		w.must(p1, &Heartbeat{})
		w.endBlock()
	}
	if o := w.order(id); o.State != OrderClosed || o.Paid != 6000 {
		t.Fatalf("after 12 blocks: %+v", o)
	}
}

func TestNoBidsRefunds(t *testing.T) {
	tenant := key(t, 1)
	w := newWorld(t, tenant)
	before := w.bank[tenant.Address()]
	w.must(tenant, order("lonely"))
	id := w.lastOrderID()
	for range DefaultParams().OrderTimeout + 1 {
		w.endBlock()
	}
	o := w.order(id)
	if o.State != OrderClosed || o.Reason != ReasonNoBids || w.bank[tenant.Address()] != before {
		t.Fatalf("unmatched order: %+v, balance %d want %d", o, w.bank[tenant.Address()], before)
	}
}

func TestProviderNoticeAndUnbond(t *testing.T) {
	tenant, p1 := key(t, 1), key(t, 2)
	w := newWorld(t, tenant, p1)
	w.must(p1, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
	w.must(tenant, order("hello"))
	id := w.lastOrderID()
	w.must(p1, &BidMsg{Order: id, Price: 10})
	w.endBlock()
	w.endBlock()
	w.must(p1, &Close{Lease: id})
	end := w.order(id).EndAt
	if err := w.exec(p1, &Close{Lease: id}); err == nil {
		t.Fatal("second notice accepted")
	}
	for w.height <= end {
		w.must(p1, &Heartbeat{})
		w.endBlock()
	}
	if o := w.order(id); o.State != OrderClosed || o.Reason != ReasonClosedByProvider {
		t.Fatalf("after notice: %+v", o)
	}
	w.must(p1, &Withdraw{})
	before := w.bank[p1.Address()]
	w.must(p1, &Deregister{})
	if err := w.exec(p1, &Heartbeat{}); err == nil {
		t.Fatal("unbonding provider heartbeat accepted")
	}
	for range DefaultParams().Unbonding + 1 {
		w.endBlock()
	}
	if _, ok := (Reader{w.kv}).Provider(p1.Address()); ok {
		t.Fatal("provider record survives unbonding")
	}
	if w.bank[p1.Address()]-before != 5000 {
		t.Fatalf("stake returned %d, want 5000", w.bank[p1.Address()]-before)
	}
}

func TestRejects(t *testing.T) {
	tenant, p1 := key(t, 1), key(t, 2)
	w := newWorld(t, tenant, p1)
	cases := []struct {
		name string
		from *wallet.Key
		msg  Msg
		code uint32
	}{
		{"tag not digest", tenant, func() Msg { m := order("x"); m.Image = "hello:latest"; return m }(), CodeInvalid},
		{"deposit below a block", tenant, func() Msg { m := order("x"); m.Deposit = 10; return m }(), CodeInvalid},
		{"replicas", tenant, func() Msg { m := order("x"); m.Replicas = 3; return m }(), CodeInvalid},
		{"bad name", tenant, func() Msg { m := order("x"); m.Name = "Bad_Name"; return m }(), CodeInvalid},
		{"deposit beyond balance", tenant, func() Msg { m := order("x"); m.Deposit = 1 << 60; return m }(), CodeFunds},
		{"stake below min", p1, &Register{Offer: offer(t, "eu", 1), Stake: 10}, CodeInvalid},
		{"bad x25519", p1, &Register{Offer: func() Offer { o := offer(t, "eu", 1); o.X25519 = []byte{1}; return o }(), Stake: 5000}, CodeInvalid},
		{"bid by non-provider", tenant, &BidMsg{Order: "aaaaaaaaaaaaaaaa", Price: 1}, CodeNotFound},
		{"close unknown", tenant, &Close{Lease: "aaaaaaaaaaaaaaaa"}, CodeNotFound},
		{"heartbeat non-provider", tenant, &Heartbeat{}, CodeNotFound},
	}
	for _, c := range cases {
		kvBefore := maps.Clone(w.kv)
		err := w.exec(c.from, c.msg)
		e, ok := err.(*Error)
		if !ok || e.Code != c.code {
			t.Errorf("%s: %v, want code %d", c.name, err, c.code)
		}
		if !maps.EqualFunc(kvBefore, w.kv, slices.Equal) {
			t.Errorf("%s: failed message changed state", c.name)
		}
	}
}

// TestDeterministic runs one scenario twice and compares state byte for byte.
func TestDeterministic(t *testing.T) {
	run := func() memKV {
		tenant, p1, p2 := key(t, 1), key(t, 2), key(t, 3)
		w := newWorld(t, tenant, p1, p2)
		w.must(p1, &Register{Offer: offer(t, "eu", 1), Stake: 5000})
		w.must(p2, &Register{Offer: offer(t, "us", 2), Stake: 5000})
		for i := range 20 {
			m := order(fmt.Sprintf("o%d", i))
			m.Resources.CPUMilli = 50
			w.must(tenant, m)
			id := w.lastOrderID()
			w.must(p1, &BidMsg{Order: id, Price: uint64(100 + i%3)})
			w.must(p2, &BidMsg{Order: id, Price: 101})
			w.must(p1, &Heartbeat{})
			w.must(p2, &Heartbeat{})
			w.endBlock()
		}
		return w.kv
	}
	a, b := run(), run()
	if !maps.EqualFunc(a, b, slices.Equal) {
		t.Fatal("same inputs, different state")
	}
}
