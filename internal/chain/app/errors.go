package app

import "errors"

// Error classes of this package (wrap them; never match strings). They are
// for the node operator's mistakes (bad genesis, ABCI calls out of order),
// never for invalid transactions, which are result codes.
var (
	ErrInvalid = errors.New("invalid argument")
	ErrState   = errors.New("wrong state")
)
