//go:build seccomp

package sandboxtest

// seccompBuilt: libcontainer was built with seccomp support.
const seccompBuilt = true
