package objects

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

// renewingNet is closingNet that also renews: each renewal is recorded,
// deals in ended are refused.
type renewingNet struct {
	*closingNet
	renewed []string
	ended   map[string]bool
}

func (m *renewingNet) RenewDeal(_ context.Context, deal string, blocks int64) (RenewedDeal, error) {
	if m.ended[deal] {
		return RenewedDeal{}, ErrDealEnded
	}
	m.renewed = append(m.renewed, deal)
	return RenewedDeal{Deal: deal, OldExpiry: 100, Expiry: 100 + blocks, Deposit: 5}, nil
}

func (m *renewingNet) DealStatus(_ context.Context, deal string) (DealStatus, error) {
	return DealStatus{Deal: deal, State: "active", Expiry: 100}, nil
}

// TestStoreObjectsRenew: renewing a bucket renews each deal once (copies
// share deals), skips inline objects, and stops at a deal that cannot be
// renewed; one object renews only its own deals; a network without
// renewals says so.
func TestStoreObjectsRenew(t *testing.T) {
	c, cn := closingClient(t)
	var d []string
	for _, k := range []string{"a", "b"} {
		e, err := c.Put(ctx, "bkt", k, bytes.NewReader(data(3*4096+9)), PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d = append(d, e.Parts[0].Deal)
	}
	if _, err := c.Put(ctx, "bkt", "tiny", bytes.NewReader([]byte("x")), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(ctx, "bkt", "a", "bkt", "a2", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Renew(ctx, "bkt", "", 10, nil); !errors.Is(err, ErrNoDeals) {
		t.Fatalf("a network without renewals: %v", err)
	}
	net := &renewingNet{closingNet: cn, ended: map[string]bool{}}
	c.Net = net
	var objs []string
	rs, err := c.Renew(ctx, "bkt", "", 10, func(obj string, _ RenewedDeal) { objs = append(objs, obj) })
	if err != nil || len(rs) != 2 || !slices.Equal(net.renewed, d) || !slices.Equal(objs, []string{"bkt/a", "bkt/b"}) || rs[0].Expiry != 110 {
		t.Fatalf("bucket renewal: %+v %v (renewed %v, progress %v)", rs, err, net.renewed, objs)
	}
	net.renewed = nil
	if rs, err = c.Renew(ctx, "bkt", "b", 10, nil); err != nil || len(rs) != 1 || !slices.Equal(net.renewed, d[1:]) {
		t.Fatalf("object renewal: %+v %v", rs, err)
	}
	net.ended[d[0]] = true
	if rs, err = c.Renew(ctx, "bkt", "", 10, nil); !errors.Is(err, ErrDealEnded) || len(rs) != 0 {
		t.Fatalf("renewal of an ended deal: %+v %v", rs, err)
	}
}
