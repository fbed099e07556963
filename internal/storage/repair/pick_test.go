package repair

import (
	"bytes"
	"testing"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func addr(b byte) wallet.Address {
	k, _ := wallet.FromSeed(bytes.Repeat([]byte{b}, 32))
	return k.Address()
}

func TestPick(t *testing.T) {
	d := market.Deal{PricePerMiB: 5}
	seg := market.DealSegment{Size: 100, Pieces: []market.StoredPiece{{Provider: addr(1)}, {Provider: addr(2)}}}
	provs := map[wallet.Address]market.Provider{}
	add := func(b byte, status string, storage, used, price uint64) {
		provs[addr(b)] = market.Provider{Address: addr(b), Status: status, Storage: storage, StorageUsed: used, Prices: market.Prices{StorageMiB: price}}
	}
	add(1, market.ProviderActive, 1000, 0, 1)   // holds a piece of the segment
	add(2, market.ProviderActive, 1000, 0, 1)   // same
	add(3, market.ProviderLost, 1000, 0, 1)     // not active
	add(4, market.ProviderActive, 1000, 0, 9)   // too expensive
	add(5, market.ProviderActive, 1000, 950, 1) // no room
	add(6, market.ProviderActive, 1000, 300, 1) // fits, 700 free
	add(7, market.ProviderActive, 1000, 100, 5) // fits, 900 free: wins
	add(8, market.ProviderActive, 0, 0, 0)      // offers no storage
	used := map[wallet.Address]uint64{}
	p, err := pick(d, seg, provs, used)
	if err != nil || p.Address != addr(7) {
		t.Fatalf("picked %v (%v), want provider 7", p.Address, err)
	}
	used[addr(7)] = 850 // this repair already placed pieces there
	if p, err = pick(d, seg, provs, used); err != nil || p.Address != addr(6) {
		t.Fatalf("picked %v (%v), want provider 6", p.Address, err)
	}
	delete(provs, addr(6))
	if _, err := pick(d, seg, provs, used); err == nil {
		t.Fatal("picked a provider with no room")
	}
}
