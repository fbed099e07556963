package chainnet

import (
	"bytes"
	"context"
	"testing"

	"crypto/rand"
	"fmt"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func dirStores(t *testing.T, n int) []storage.PieceStore {
	var ss []storage.PieceStore
	for i := range n {
		ss = append(ss, &storage.DirStore{Label: fmt.Sprintf("p%d", i), Dir: t.TempDir()})
	}
	return ss
}

func TestNewDeal(t *testing.T) {
	stores := dirStores(t, 6)
	p := storage.Params{SegmentSize: 64 << 10, K: 4, M: 2}
	data := make([]byte, 200<<10)
	rand.Read(data)
	master := bytes.Repeat([]byte{3}, 32)
	obj, err := storage.Put(context.Background(), bytes.NewReader(data), stores, master, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var provs []wallet.Address
	for i := range 6 {
		k, _ := wallet.FromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		provs = append(provs, k.Address())
	}
	ref := bytes.Repeat([]byte{1}, 32)
	d, err := NewDeal(obj, ref, provs, 3, 10, 110)
	if err != nil {
		t.Fatal(err)
	}
	// 4 segments × 6 pieces, each under 1 MiB: 24 × 3 uvis per block for 100 blocks.
	if len(d.Segments) != 4 || d.Deposit != 24*3*100 || d.Segments[1].Pieces[0].Provider != 1 {
		t.Fatalf("deal %+v", d)
	}
	if _, err := NewDeal(obj, ref, provs[:5], 3, 10, 110); err == nil {
		t.Fatal("provider count mismatch accepted")
	}
	small, _ := storage.Put(context.Background(), bytes.NewReader([]byte("tiny")), stores, master, p, nil)
	if _, err := NewDeal(small, ref, provs, 3, 10, 110); err == nil {
		t.Fatal("inline object accepted")
	}
}
