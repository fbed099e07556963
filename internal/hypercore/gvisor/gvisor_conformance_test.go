package gvisor

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
		Timeout:     60 * time.Second,
		Concurrency: 3,
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
