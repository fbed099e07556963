package fake_test

import (
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/fake"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

func TestConformance(t *testing.T) {
	hypercoretest.Run(t, func(t *testing.T) hypercore.Provider { return fake.New() }, hypercoretest.Options{RootFS: "/nonexistent-fake-needs-none"})
}
