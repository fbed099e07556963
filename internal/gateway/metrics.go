package gateway

import (
	"bufio"
	"net"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
}

// newMetrics registers the gateway's collectors; nil reg means none.
func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vimana_gateway_requests_total",
			Help: "Requests through the ingress gateway by status class (1xx is a protocol switch, e.g. websocket).",
		}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vimana_gateway_request_duration_seconds",
			Help:    "Time from request to the end of the response (for websockets: of the connection).",
			Buckets: prometheus.DefBuckets,
		}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *metrics) observe(code int, seconds float64) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(class(code)).Inc()
	m.latency.Observe(seconds)
}

func class(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// recorder remembers the status written through it. It implements Hijack
// itself so a protocol switch counts as 101 (ReverseProxy writes that
// response on the hijacked connection), and Unwrap so
// http.ResponseController reaches Flush and deadlines underneath.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil && r.code == 0 {
		r.code = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
