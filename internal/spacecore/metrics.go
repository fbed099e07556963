package spacecore

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	byPhase  *prometheus.GaugeVec
	startLat prometheus.Histogram
	restarts prometheus.Counter
}

// newMetrics builds the supervisor's metrics and registers them with reg
// when it is not nil.
func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		byPhase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "vimana", Subsystem: "spacecore", Name: "spacecores",
			Help: "Spacecores on this node by phase (starting, running, backoff, exited, stopped, failed, removing).",
		}, []string{"state"}),
		startLat: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "vimana", Subsystem: "spacecore", Name: "start_seconds",
			Help:    "Time from the decision to start a spacecore to its provider's Start returning (create included).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "vimana", Subsystem: "spacecore", Name: "restarts_total",
			Help: "Restarts made by restart policies.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.byPhase, m.startLat, m.restarts} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering spacecore metrics: %w", err)
			}
		}
	}
	return m, nil
}

// setPhases publishes the count of records per phase.
func (m *metrics) setPhases(counts map[Phase]int) {
	for _, p := range Phases {
		m.byPhase.WithLabelValues(string(p)).Set(float64(counts[p]))
	}
}
