package piecestore

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Instrument wraps a piece store's handler (Handler) with Prometheus
// metrics registered on reg: requests and their latency by operation
// (put, get, range, proof, usage) and status code, bytes received and
// served, and the store's pieces, used and capacity bytes. Labels never
// carry piece ids or deals, so the series stay few.
func Instrument(reg prometheus.Registerer, s *Store, next http.Handler) http.Handler {
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vimana_piecestore_requests_total",
		Help: "Piece store HTTP requests by operation and status code.",
	}, []string{"op", "code"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vimana_piecestore_request_duration_seconds",
		Help:    "Piece store request latency by operation (a put includes receiving, hashing and fsyncing the piece).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"op"})
	bytesIn := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vimana_piecestore_received_bytes_total",
		Help: "Request body bytes read by the piece store (uploads).",
	})
	bytesOut := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vimana_piecestore_served_bytes_total",
		Help: "Response body bytes written by the piece store (piece reads, ranges, proofs).",
	})
	reg.MustRegister(reqs, dur, bytesIn, bytesOut,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vimana_piecestore_pieces", Help: "Pieces held."},
			func() float64 { return float64(s.Pieces()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vimana_piecestore_used_bytes", Help: "Bytes of pieces held or being written."},
			func() float64 { _, u := s.Usage(); return float64(u) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vimana_piecestore_capacity_bytes", Help: "Bytes the store may hold."},
			func() float64 { c, _ := s.Usage(); return float64(c) }),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		cw := &countingWriter{ResponseWriter: w, code: http.StatusOK}
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, c: bytesIn}
		}
		t0 := time.Now()
		next.ServeHTTP(cw, r)
		dur.WithLabelValues(op).Observe(time.Since(t0).Seconds())
		reqs.WithLabelValues(op, strconv.Itoa(cw.code)).Inc()
		bytesOut.Add(float64(cw.n))
	})
}

// operation names a request without its piece id.
func operation(r *http.Request) string {
	switch {
	case r.Method == http.MethodPut:
		return "put"
	case r.URL.Path == Prefix || r.URL.Path == Prefix+"/":
		return "usage"
	case strings.HasSuffix(r.URL.Path, "/proof"):
		return "proof"
	case r.URL.Query().Has("offset") || r.URL.Query().Has("length"):
		return "range"
	case r.Method == http.MethodGet:
		return "get"
	}
	return "other"
}

type countingWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (w *countingWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

type countingBody struct {
	io.ReadCloser
	c prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.Add(float64(n))
	return n, err
}
