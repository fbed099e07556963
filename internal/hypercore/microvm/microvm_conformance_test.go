package microvm

import (
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

func TestConformance(t *testing.T) {
	var p *Provider
	hypercoretest.Run(t, func(t *testing.T) hypercore.Provider {
		p = newTestProvider(t)
		return p
	}, hypercoretest.Options{
		Timeout:     3 * time.Minute, // TCG boots take seconds, and 2 cores run ~16 VMs at once
		Concurrency: 2,
		Reopen: func(t *testing.T) hypercore.Provider {
			p2, err := New(p.dir, p.opts)
			if err != nil {
				t.Fatal(err)
			}
			return p2
		},
		CheckClean: func(t *testing.T, id string) { checkClean(t, p, id) },
	})
}
