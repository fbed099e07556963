package hypercore

import "errors"

// Error classes. Providers wrap them with context ("creating %s: %w");
// callers test with errors.Is and never match strings. internal/api maps
// them to codes.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrInvalid       = errors.New("invalid argument")
	ErrUnavailable   = errors.New("unavailable")
	ErrPermission    = errors.New("permission denied")
	// ErrState means the machine is in the wrong state for the call
	// (e.g. Start on a running machine, Exec on a stopped one).
	ErrState = errors.New("wrong state")
	// ErrResources means a limit cannot be met (port taken, no capacity).
	ErrResources = errors.New("resources exhausted")
)
