// Package node is the composition root of the vimana daemon: configuration,
// start/stop order, one root context. It is the only non-test package that
// imports hypercore provider implementations (builtins.go).
package node

// HandleReexec runs a provider's re-exec entry point when this process was
// started as one (e.g. the sandbox's container init) and reports whether it
// did; main returns immediately when it is true.
func HandleReexec() bool {
	for _, h := range reexecHooks {
		if h() {
			return true
		}
	}
	return false
}
