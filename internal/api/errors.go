package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// toConnect maps domain error classes to API codes; this is the only place
// that does.
func toConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	code := connect.CodeInternal
	switch {
	case errors.Is(err, hypercore.ErrNotFound):
		code = connect.CodeNotFound
	case errors.Is(err, hypercore.ErrAlreadyExists):
		code = connect.CodeAlreadyExists
	case errors.Is(err, hypercore.ErrInvalid):
		code = connect.CodeInvalidArgument
	case errors.Is(err, hypercore.ErrPermission):
		code = connect.CodePermissionDenied
	case errors.Is(err, hypercore.ErrUnavailable):
		code = connect.CodeUnavailable
	case errors.Is(err, hypercore.ErrState):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, hypercore.ErrResources):
		code = connect.CodeResourceExhausted
	case errors.Is(err, context.Canceled):
		code = connect.CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		code = connect.CodeDeadlineExceeded
	}
	return connect.NewError(code, err)
}
