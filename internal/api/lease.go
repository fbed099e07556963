package api

import (
	"context"

	"connectrpc.com/connect"

	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/api/vimana/v1/vimanav1connect"
)

// Leases is the provider agent's side of the lease service. caller is the
// verified key (hex) of the request's signer; implementations check it
// against the lease's owner on chain. Errors wrap the hypercore error
// classes (ErrPermission, ErrNotFound, ErrInvalid, ErrState).
type Leases interface {
	DeliverSecrets(ctx context.Context, caller, lease string, sealed []byte) (applied bool, err error)
}

type leaseServer struct{ l Leases }

var _ vimanav1connect.LeaseServiceHandler = leaseServer{}

func (s leaseServer) DeliverSecrets(ctx context.Context, req *connect.Request[vimanav1.DeliverSecretsRequest]) (*connect.Response[vimanav1.DeliverSecretsResponse], error) {
	applied, err := s.l.DeliverSecrets(ctx, Identity(ctx), req.Msg.Lease, req.Msg.Sealed)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&vimanav1.DeliverSecretsResponse{Applied: applied}), nil
}
