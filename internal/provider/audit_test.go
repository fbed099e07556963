package provider

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/merkle"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

type fakeAuditChain struct{ chs []market.Challenge }

func (f *fakeAuditChain) Height(context.Context) (int64, error) { return 1, nil }
func (f *fakeAuditChain) Challenges(context.Context, wallet.Address) ([]market.Challenge, error) {
	return f.chs, nil
}

type recorder struct{ msgs []*market.AuditProof }

func (r *recorder) Submit(_ context.Context, typ string, m app.Msg) (chain.Submitted, error) {
	if typ != market.TypeAuditProof {
		return chain.Submitted{}, errors.New("unexpected " + typ)
	}
	r.msgs = append(r.msgs, m.(*market.AuditProof))
	return chain.Submitted{}, nil
}

func TestAuditorAnswers(t *testing.T) {
	k, _ := wallet.FromSeed(bytes.Repeat([]byte{4}, 32))
	st, err := piecestore.Open(t.TempDir(), 1<<20, k)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := bytes.Repeat([]byte{1, 2, 3}, 3000), bytes.Repeat([]byte{7}, 5000)
	for _, d := range [][]byte{good, bad} {
		if _, err := st.Put("abcdefghijklmnop", piecestore.ID(d), d); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := st.Path(piecestore.ID(bad))
	rotten := bytes.Clone(bad)
	rotten[10] ^= 1
	os.WriteFile(p, rotten, 0o600)

	fc := &fakeAuditChain{chs: []market.Challenge{
		{Deal: "abcdefghijklmnop", Segment: 0, Piece: 1, Leaf: 5, PieceID: piecestore.ID(good), Height: 10, Due: 15},
		{Deal: "abcdefghijklmnop", Segment: 0, Piece: 2, Leaf: 0, PieceID: piecestore.ID(bad), Height: 10, Due: 15},
	}}
	rec := &recorder{}
	a := &Auditor{Addr: k.Address(), Chain: fc, Submit: rec, Pieces: st}
	ctx := context.Background()
	if err := a.Step(ctx, 11); err == nil {
		t.Fatal("a rotten piece should be reported")
	}
	a.Step(ctx, 12) // already answered: nothing new
	if len(rec.msgs) != 1 || rec.msgs[0].Piece != 1 || rec.msgs[0].Leaf != 5 {
		t.Fatalf("submitted %+v", rec.msgs)
	}
	m := rec.msgs[0]
	if !merkle.Verify(merkle.Root(good), uint64(len(good)), m.Leaf, m.Data, m.Path) {
		t.Fatal("submitted proof does not verify")
	}
	// The same piece challenged again (a new height) is answered again.
	fc.chs[0].Height, fc.chs[0].Due = 13, 18
	a.Step(ctx, 13)
	if len(rec.msgs) != 2 {
		t.Fatalf("re-challenge not answered: %d proofs", len(rec.msgs))
	}
}
