package api

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/api/vimana/v1/vimanav1connect"
	"github.com/vistara-labs/vimana/internal/spacecore"
)

// EventWatching is the type of WatchEvents' first message: the
// subscription is live, so every event after it reaches the caller.
const EventWatching = "watching"

// WatchEvents streams spacecore lifecycle events from now on: a tenant
// key gets its own spacecores' events, the local admin everyone's. A
// watcher that falls too far behind is cut off (unavailable) rather than
// slowing the supervisor down.
func (s *server) WatchEvents(ctx context.Context, req *connect.Request[vimanav1.WatchEventsRequest], stream *connect.ServerStream[vimanav1.Event]) error {
	caller, err := streamIdentity(ctx, vimanav1connect.SpacecoreServiceWatchEventsProcedure, req.Header(), req.Msg)
	if err != nil {
		return err
	}
	ctx = withIdentity(ctx, caller)
	id := req.Msg.Id
	if id != "" {
		if _, err := s.owned(ctx, id); err != nil {
			return err
		}
	}
	events := s.d.Supervisor.Events(ctx)
	if err := stream.Send(&vimanav1.Event{Type: EventWatching, Time: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		return err
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return connect.NewError(connect.CodeUnavailable, errors.New("event stream ended: this watcher fell behind, or the node is stopping; watch again"))
			}
			if (caller != LocalAdmin && ev.Owner != caller) || (id != "" && ev.ID != id) {
				continue
			}
			if err := stream.Send(eventProto(ev)); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func eventProto(ev spacecore.Event) *vimanav1.Event {
	out := &vimanav1.Event{Id: ev.ID, Name: ev.Name, Owner: ev.Owner, Type: string(ev.Type), Phase: string(ev.Phase),
		Time: ev.Time.UTC().Format(time.RFC3339Nano), Reason: ev.Reason()}
	if ev.Exit != nil {
		out.HasExit, out.ExitCode = true, int32(ev.Exit.Code)
	}
	return out
}
