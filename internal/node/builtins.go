package node

// reexecHooks are the providers' re-exec entry points, checked in order.
// Each provider registers itself with hypercore in its own package init-free
// Register function; this file is the one list of built-ins.
var reexecHooks = []func() bool{}
