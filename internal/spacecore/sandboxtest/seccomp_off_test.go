//go:build !seccomp

package sandboxtest

// seccompBuilt is false without `-tags seccomp` (make test sets it): the
// sandbox then runs without its seccomp profile, which this test of the
// supervisor does not depend on.
const seccompBuilt = false
