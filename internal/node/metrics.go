package node

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
