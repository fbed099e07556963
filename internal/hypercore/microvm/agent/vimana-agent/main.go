// Command vimana-agent is the microvm guest's init on its own: the same
// agent the vimana binary runs when re-executed as PID 1 in a guest
// (package agent, one directory up), in a small static binary. It lives
// inside the provider tree because only internal/node may import providers.
// The microvm provider puts it in the initramfs when it sits next to the
// vimana executable; a guest then boots without running the init code of
// every package vimana links (seconds under TCG). `make build` builds it.
package main

import (
	"fmt"
	"os"

	"github.com/vistara-labs/vimana/internal/hypercore/microvm/agent"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vimana-agent is the init of a vimana microvm guest; it runs only as PID 1 inside one")
		os.Exit(2)
	}
	agent.Main()
}
