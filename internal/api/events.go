package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
)

func (s *server) WatchEvents(ctx context.Context, req *connect.Request[vimanav1.WatchEventsRequest], stream *connect.ServerStream[vimanav1.Event]) error {
	return connect.NewError(connect.CodeUnimplemented, errors.New("not yet"))
}
