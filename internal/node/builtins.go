package node

import (
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/sandbox"
)

// This file is the one list of built-in hypercore providers.

// reexecHooks are the providers' re-exec entry points, checked in order
// before anything else runs in main.
var reexecHooks = []func() bool{
	sandbox.Reexec,
}

// init registers the providers. It runs in every process started from
// this binary, container inits included, so it only fills a map.
func init() {
	hypercore.Register(hypercore.IsolationSandbox, sandbox.Factory)
}
