package market

import (
	"fmt"
	"maps"
	"os"
	"runtime/pprof"
	"testing"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// BenchmarkAuction10kProviders1kOrders closes 1,000 auctions in one block
// on a market of 10,000 providers, each order carrying the maximum number
// of bids (64) from providers spread over the set (issue 5's matching cost).
func BenchmarkAuction10kProviders1kOrders(b *testing.B) {
	const providers, orders = 10_000, 1_000
	kv := memKV{}
	bk := bank{}
	prm := DefaultParams()
	prm.MinStake = 1
	if err := SetParams(kv, prm); err != nil {
		b.Fatal(err)
	}
	tenant := key(b, 1)
	bk[tenant.Address()] = 1 << 62
	addrs := make([]wallet.Address, providers)
	off := offer(b, "eu", 1)
	for i := range providers {
		var a wallet.Address
		a[0], a[1], a[19] = byte(i>>8), byte(i), 0xaa
		addrs[i] = a
		bk[a] = 10
		c := &Ctx{Height: 1, Sender: a, TxHash: a[:], KV: kv, Bank: bk}
		if err := Exec(c, &Register{Offer: off, Stake: 1}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range orders {
		c := &Ctx{Height: 1, Sender: tenant.Address(), SenderKey: tenant.PubKey(), TxHash: fmt.Appendf(nil, "order-%d", i), KV: kv, Bank: bk}
		m := order(fmt.Sprintf("o%d", i))
		m.Resources.CPUMilli = 100
		if err := Exec(c, m); err != nil {
			b.Fatal(err)
		}
		id := OrderID(c.TxHash)
		for j := range prm.MaxBids {
			p := addrs[(i*131+j*157)%providers]
			bc := &Ctx{Height: 2, Sender: p, KV: kv, Bank: bk}
			if err := Exec(bc, &BidMsg{Order: id, Price: uint64(100 + (i+j)%50)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if f := os.Getenv("MARKET_PROF"); f != "" {
		out, _ := os.Create(f)
		pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		w := memKV(maps.Clone(kv))
		wb := bank(maps.Clone(bk))
		b.StartTimer()
		c := &Ctx{Height: 2, KV: w, Bank: wb}
		EndBlock(c)
		b.StopTimer()
		if len(Reader{w}.Open()) != 0 {
			b.Fatalf("%d orders still open", len(Reader{w}.Open()))
		}
		b.StartTimer()
	}
}
