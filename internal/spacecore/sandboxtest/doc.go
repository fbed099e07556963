// Package sandboxtest runs the spacecore supervisor against the real
// sandbox provider (libcontainer): create, serve over a published port,
// daemon restart with re-adoption, removal without leftovers. It lives
// apart from internal/spacecore so that package's unit tests stay free of
// cgo and libcontainer; it has no non-test code. The test needs root and
// skips with the provider's reason when the sandbox cannot run here.
package sandboxtest
