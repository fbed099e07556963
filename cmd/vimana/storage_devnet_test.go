package main

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/chainnet"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// TestStorageDevnet runs storage on a devnet of real node processes: the
// seven provider nodes serve piece stores on their APIs and answer audits,
// node 0 runs the repair worker. A tenant puts an object 4+2 across six of
// them and opens the deal; two holders are killed (SIGKILL) and the object
// still reads byte-exact; the chain marks them lost, flags the deal (it
// asks for 5 healthy pieces per segment), and node 0's repair worker
// rebuilds one piece of every segment onto the seventh provider.
func TestStorageDevnet(t *testing.T) {
	ctx, _, dir, d, cc := startStorageDevnet(t, 8, 5*time.Minute)
	ks, err := wallet.OpenKeystore(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := ks.Load("tenant", nil)
	if err != nil {
		t.Fatal(err)
	}
	nodeOf := map[wallet.Address]int{}
	for i, a := range d.Providers {
		addr, _ := wallet.ParseAddress(a)
		nodeOf[addr] = i
	}
	var provs []market.Provider
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		ps, err := cc.Providers(ctx)
		provs = provs[:0]
		for _, p := range ps {
			if err == nil && p.Storage > 0 && p.Status == market.ProviderActive {
				provs = append(provs, p)
			}
		}
		if len(provs) == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d storage providers registered, want 7", len(provs))
		}
	}
	holders, spare := provs[:6], provs[6]

	object := make([]byte, 32)
	rand.Read(object)
	deal := market.DealID(tenant.Address(), object)
	var stores []storage.PieceStore
	for _, p := range holders {
		stores = append(stores, &piecestore.Client{Label: p.Address.String(), URL: p.Endpoint, Key: tenant, Deal: deal, Provider: p.Address})
	}
	data := make([]byte, 3<<20+777)
	rand.Read(data)
	master := bytes.Repeat([]byte{9}, 32)
	obj, err := storage.Put(ctx, bytes.NewReader(data), stores, master, storage.Params{SegmentSize: 1 << 20, K: 4, M: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := cc.Height(ctx)
	var addrs []wallet.Address
	for _, p := range holders {
		addrs = append(addrs, p.Address)
	}
	msg, err := chainnet.NewDeal(obj, object, addrs, 1, h-5, h+100_000)
	if err != nil {
		t.Fatal(err)
	}
	msg.RepairAt = 5
	if _, _, err := (&chain.Signer{C: cc, Key: tenant}).SubmitAndWait(ctx, market.TypeStorageDeal, msg, time.Minute); err != nil {
		t.Fatal(err)
	}

	// Kill two holders' node processes.
	dead := []wallet.Address{holders[1].Address, holders[4].Address}
	for _, a := range dead {
		if err := syscall.Kill(d.Nodes[nodeOf[a]].Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	read := func() error {
		dl, err := cc.Deal(ctx, deal)
		if err != nil {
			return err
		}
		o := *obj
		o.Stores, o.Placement = nil, nil
		byName := map[string]storage.PieceStore{}
		idx := map[wallet.Address]int{}
		for i, p := range provs {
			idx[p.Address] = i
			o.Stores = append(o.Stores, p.Address.String())
			byName[p.Address.String()] = &piecestore.Client{URL: p.Endpoint, Deal: deal}
		}
		for _, seg := range dl.Segments {
			var pl []int
			for _, pc := range seg.Pieces {
				pl = append(pl, idx[pc.Provider])
			}
			o.Placement = append(o.Placement, pl)
		}
		var out bytes.Buffer
		if err := storage.Get(ctx, &o, byName, master, &out); err != nil {
			return err
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("object read back differs")
		}
		return nil
	}
	if err := read(); err != nil {
		t.Fatalf("read with two holders killed: %v", err)
	}

	// The chain notices (grace), flags the deal, node 0 repairs it.
	var dl market.Deal
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(300 * time.Millisecond) {
		dl, err = cc.Deal(ctx, deal)
		onSpare := 0
		if err == nil {
			for _, seg := range dl.Segments {
				for _, pc := range seg.Pieces {
					if pc.Provider == spare.Address {
						onSpare++
					}
				}
			}
		}
		if err == nil && !dl.Repair && onSpare == len(dl.Segments) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deal not repaired: %+v (%v)", dl, err)
		}
	}
	passed := 0
	for _, seg := range dl.Segments {
		for _, pc := range seg.Pieces {
			passed += int(pc.Passed)
			if pc.Failed && pc.Provider != dead[0] && pc.Provider != dead[1] {
				t.Fatalf("a live provider's piece failed its audit: %+v", pc)
			}
		}
	}
	if passed == 0 {
		t.Fatal("no audit was answered by the provider nodes")
	}
	t.Logf("repaired onto %s; %d audits passed", spare.Address, passed)
	if err := read(); err != nil {
		t.Fatalf("read after repair: %v", err)
	}
}
