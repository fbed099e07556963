package node

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vistara-labs/vimana/internal/resources"
)

// withAPIMetrics records API latency by procedure and status.
func withAPIMetrics(reg *prometheus.Registry, next http.Handler) http.Handler {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vimana_api_request_duration_seconds",
		Help:    "Node API request latency by procedure and HTTP status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"procedure", "status"})
	reg.MustRegister(hist)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		t0 := time.Now()
		next.ServeHTTP(sw, r)
		hist.WithLabelValues(r.URL.Path, http.StatusText(sw.status)).Observe(time.Since(t0).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush keeps server streaming (logs -f) working through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// registerCapacity exports what the node offers, has reserved and has free.
func registerCapacity(reg *prometheus.Registry, l *resources.Ledger) {
	for _, r := range []struct {
		name, help string
		get        func(resources.Capacity) float64
	}{
		{"milli_cpu", "CPU in milli-cores", func(c resources.Capacity) float64 { return float64(c.MilliCPU) }},
		{"memory_bytes", "memory in bytes", func(c resources.Capacity) float64 { return float64(c.MemoryBytes) }},
		{"disk_bytes", "disk in bytes", func(c resources.Capacity) float64 { return float64(c.DiskBytes) }},
		{"gpus", "GPUs", func(c resources.Capacity) float64 { return float64(c.GPUs) }},
	} {
		for state, f := range map[string]func() resources.Capacity{"offered": l.Offered, "used": l.Used, "free": l.Free} {
			get, f := r.get, f
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "vimana_capacity_" + r.name,
				Help:        "Node capacity for spacecores: " + r.help + ", by state.",
				ConstLabels: prometheus.Labels{"state": state},
			}, func() float64 { return get(f()) }))
		}
	}
}
