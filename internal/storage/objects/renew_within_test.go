package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
)

// windowNet is renewingNet at a height, with each deal's expiry in
// expiry (100 otherwise); deals in broke fail for want of funds, deals
// in unknown cannot be read.
type windowNet struct {
	*renewingNet
	height  int64
	expiry  map[string]int64
	broke   map[string]bool
	unknown map[string]bool
}

func (m *windowNet) Height(context.Context) (int64, error) { return m.height, nil }

func (m *windowNet) DealStatus(_ context.Context, deal string) (DealStatus, error) {
	if m.unknown[deal] {
		return DealStatus{}, errors.New("chain unreachable")
	}
	e, ok := m.expiry[deal]
	if !ok {
		e = 100
	}
	return DealStatus{Deal: deal, State: "active", Expiry: e, Escrow: 7}, nil
}

func (m *windowNet) RenewDeal(ctx context.Context, deal string, blocks int64) (RenewedDeal, error) {
	if m.broke[deal] {
		return RenewedDeal{}, fmt.Errorf("deposit of 9 uvis: %w", ErrFunds)
	}
	return m.renewingNet.RenewDeal(ctx, deal, blocks)
}

// expiringStore is an index store whose blobs listed in soon are under
// deals ending within any window asked about.
type expiringStore struct {
	*index.DirStore
	soon   []string
	asked  []int64
	failed error
}

func (s *expiringStore) Expiring(_ context.Context, within int64) ([]string, error) {
	s.asked = append(s.asked, within)
	return s.soon, s.failed
}

// windowClient has buckets bkt (a, b, its copy a2, inline tiny) and
// other (c), whose deals are deal-1, deal-2 and deal-3, on a windowNet
// at height 50, over an expiringStore.
func windowClient(t *testing.T) (*Client, *windowNet, *expiringStore) {
	t.Helper()
	local, err := NewLocalNetwork(t.TempDir(), 6)
	if err != nil {
		t.Fatal(err)
	}
	cn := &closingNet{StaticNetwork: local, fail: map[string]bool{}}
	st := &expiringStore{DirStore: &index.DirStore{Dir: t.TempDir()}}
	ix, err := index.New(st, bytes.Repeat([]byte{4}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ix, cn, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	p := storage.Params{K: 4, M: 2, SegmentSize: storage.LeafSize}
	for _, o := range []struct{ b, k string }{{"bkt", "a"}, {"bkt", "b"}, {"other", "c"}} {
		if err := c.CreateBucket(ctx, o.b, index.BucketConfig{Params: p}); err != nil && !errors.Is(err, index.ErrAlreadyExists) {
			t.Fatal(err)
		}
		if _, err := c.Put(ctx, o.b, o.k, bytes.NewReader(data(3*4096+9)), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Put(ctx, "bkt", "tiny", bytes.NewReader([]byte("x")), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(ctx, "bkt", "a", "bkt", "a2", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	net := &windowNet{renewingNet: &renewingNet{closingNet: cn, ended: map[string]bool{}}, height: 50,
		expiry: map[string]int64{}, broke: map[string]bool{}, unknown: map[string]bool{}}
	c.Net = net
	return c, net, st
}

func actions(rep RenewReport) []string {
	var out []string
	for _, r := range rep.Renewals {
		out = append(out, r.Kind+" "+r.Object+" "+r.Deal+" "+r.Action)
	}
	return out
}

// TestStoreObjectsRenewWithin: only deals ending within the window are
// renewed (each once, though a copy shares one), the rest are skipped
// with their expiry; index blobs under expiring deals are rewritten; a
// deal that fails is reported and the run goes on, except for want of
// funds, which stops it with what was done; within 0 renews everything;
// a network without deals says so.
func TestStoreObjectsRenewWithin(t *testing.T) {
	c, net, st := windowClient(t)
	net.expiry["deal-2"] = 500 // bkt/b ends late
	st.soon = []string{c.Index.BlobName("other")}
	var seen []string
	rep, err := c.RenewWithin(ctx, 100, func(r Renewal) { seen = append(seen, r.Object) })
	want := []string{"object bkt/a deal-1 renewed", "object bkt/b deal-2 skipped", "object other/c deal-3 renewed", "index other  renewed"}
	if err != nil || !slices.Equal(actions(rep), want) || !slices.Equal(net.renewed, []string{"deal-1", "deal-3"}) {
		t.Fatalf("renew within 100: %v %v (renewed %v)", actions(rep), err, net.renewed)
	}
	if rep.Height != 50 || rep.Renewed != 3 || rep.Skipped != 1 || rep.Failed != 0 || rep.Deposit != 10 || len(seen) != 4 ||
		rep.Renewals[1].Expiry != 500 || rep.Renewals[0].Expiry != 100 || !slices.Equal(st.asked, []int64{100}) {
		t.Fatalf("report %+v (progress %v, index asked %v)", rep, seen, st.asked)
	}

	// A failure is reported and the run goes on.
	net.renewed, st.soon = nil, nil
	net.unknown["deal-1"] = true
	net.ended["deal-3"] = true
	rep, err = c.RenewWithin(ctx, 1000, nil)
	want = []string{"object bkt/a deal-1 failed", "object bkt/b deal-2 renewed", "object other/c deal-3 failed"}
	if err != nil || !slices.Equal(actions(rep), want) || rep.Failed != 2 || rep.Renewals[2].Error == "" {
		t.Fatalf("failures: %v %v %+v", actions(rep), err, rep)
	}

	// Want of funds stops the run with what was done.
	net.renewed = nil
	clear(net.unknown)
	clear(net.ended)
	net.broke["deal-2"] = true
	rep, err = c.RenewWithin(ctx, 0, nil)
	want = []string{"object bkt/a deal-1 renewed", "object bkt/b deal-2 failed"}
	if !errors.Is(err, ErrFunds) || !slices.Equal(actions(rep), want) || rep.Renewed != 1 {
		t.Fatalf("funds: %v %v", actions(rep), err)
	}

	// within 0: every deal, without asking for the height.
	delete(net.broke, "deal-2")
	rep, err = c.RenewWithin(ctx, 0, nil)
	if err != nil || rep.Renewed != 3 || rep.Skipped != 0 || st.asked[len(st.asked)-1] <= 1<<40 {
		t.Fatalf("within 0: %v %v (index asked %v)", actions(rep), err, st.asked)
	}

	c.Net = net.closingNet
	if _, err := c.RenewWithin(ctx, 10, nil); !errors.Is(err, ErrNoDeals) {
		t.Fatalf("a network without renewals: %v", err)
	}
}

// TestStoreObjectsRenewer: the loop runs once per tick (driven by the
// test), reports each run, survives a failing one, and Stop ends it.
func TestStoreObjectsRenewer(t *testing.T) {
	c, net, _ := windowClient(t)
	net.expiry["deal-2"] = 500
	tick := make(chan time.Time)
	ran := make(chan RenewReport)
	errs := make(chan error, 10)
	r := &Renewer{C: c, Within: 100, Tick: tick, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ran: func(rep RenewReport, err error) { errs <- err; ran <- rep }}
	if (&Renewer{C: c}).Start(ctx) == nil {
		t.Fatal("a renewer with within 0 started")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	tick <- time.Time{}
	if rep := <-ran; <-errs != nil || rep.Renewed != 2 || rep.Skipped != 1 {
		t.Fatalf("first run: %v", actions(rep))
	}
	net.broke["deal-1"] = true
	tick <- time.Time{}
	if rep := <-ran; !errors.Is(<-errs, ErrFunds) || rep.Failed != 1 {
		t.Fatalf("failing run: %v", actions(rep))
	}
	delete(net.broke, "deal-1")
	tick <- time.Time{}
	if rep := <-ran; <-errs != nil || rep.Renewed != 2 {
		t.Fatalf("run after a failure: %v", actions(rep))
	}
	r.Stop()
	r.Stop() // twice is fine
	select {
	case tick <- time.Time{}:
		t.Fatal("a stopped renewer took a tick")
	default:
	}
	if len(net.renewed) != 4 { // the failing run renewed nothing
		t.Fatalf("renewed %v", net.renewed)
	}

	// A network without deals refuses to start.
	c.Net = net.closingNet
	if err := (&Renewer{C: c, Within: 10, Tick: tick}).Start(ctx); !errors.Is(err, ErrNoDeals) {
		t.Fatalf("renewer on a network without deals: %v", err)
	}
}
