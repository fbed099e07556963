package app

import (
	"bytes"
	"testing"

	"github.com/vistara-labs/vimana/internal/market"
)

func FuzzDecodeTx(f *testing.F) {
	fx := newFixture(f)
	valid := NewTransfer(fx.alice, testChainID, fx.bob.Address(), 1, 10, 0).Encode()
	f.Add(valid)
	f.Add(NewTx(fx.alice, testChainID, market.TypeCloseStorageDeal, &market.CloseStorageDeal{Deal: "abcdefghijklmnop"}, 10, 0).Encode())
	f.Add(NewTx(fx.alice, testChainID, market.TypeRenewStorageDeal, &market.RenewStorageDeal{Deal: "abcdefghijklmnop", Expiry: 100, Deposit: 5}, 10, 0).Encode())
	f.Add(NewTx(fx.alice, testChainID, market.TypeSetIndex, &market.SetIndex{Name: "0123abcd.bucket", Version: 2, Object: bytes.Repeat([]byte("x"), 6000), Deal: "abcdefghijklmnop"}, 10, 0).Encode())
	f.Add(NewTx(fx.alice, testChainID, market.TypeSetIndex, &market.SetIndex{Name: "0123abcd.bucket", Version: 3}, 10, 1).Encode())
	f.Add([]byte(`{"body":{},"signature":""}`))
	f.Add([]byte(`{}`))
	f.Add(bytes.Replace(valid, []byte(`"nonce":0`), []byte(`"nonce":0,"x":1`), 1))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, code, err := DecodeTx(raw)
		if code != CodeOK {
			if tx != nil || err == nil {
				t.Fatalf("code %d with tx %v, err %v", code, tx, err)
			}
			return
		}
		// Accepted input is canonical and round-trips.
		if !bytes.Equal(tx.Encode(), raw) {
			t.Fatalf("accepted non-canonical input %q", raw)
		}
		if len(raw) > MaxDealTxBytes || len(raw) > MaxTxBytesOf(tx.Body.Type) || (len(raw) > MaxTxBytes && tx.Body.Type != market.TypeStorageDeal && tx.Body.Type != market.TypeSetIndex) {
			t.Fatal("accepted oversized input")
		}
		tx.VerifySignature()
	})
}
