package node

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/resources"
)

func TestCapacityMetrics(t *testing.T) {
	l, err := resources.NewLedger(resources.Capacity{MilliCPU: 4000, MemoryBytes: 8 << 30, DiskBytes: 100 << 30},
		resources.Policy{CPUOvercommit: 1, MemoryOvercommit: 1, DiskOvercommit: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	registerCapacity(reg, l)
	if err := l.Reserve("a", hypercore.Resources{MilliCPU: 1500, MemoryBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	for k, want := range map[string]float64{
		"vimana_capacity_milli_cpu/used": 1500, "vimana_capacity_milli_cpu/free": 2500,
		"vimana_capacity_memory_bytes/used": 1 << 30, "vimana_capacity_milli_cpu/offered": 4000,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}
