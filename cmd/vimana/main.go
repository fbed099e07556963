// Command vimana is Vistara's one binary: node daemon, provider, validator
// and tenant client. See README.md and docs/cli.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vistara-labs/vimana/internal/node"
)

func main() {
	// Sandboxes re-execute this binary as their container init; that path
	// must run before anything else (no cobra, no logging).
	if node.HandleReexec() {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	if err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// exitCode is returned by commands that must exit with a specific status
// (e.g. `vimana run` exits with the workload's code) without printing.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
