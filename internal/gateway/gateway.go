// Package gateway is the node's HTTP(S) ingress: it owns the mapping from
// a request to a spacecore (Host "<id>.<base-domain>" or the path fallback
// "/sc/<id>/"), the reverse proxy to the spacecore's port (websockets
// included), the 404/502 pages, the listeners (plain, TLS from files, or
// ACME) and the ingress metrics.
//
// It learns where spacecores listen only through the Router interface, so
// it must not import the spacecore supervisor, hypercore or its providers,
// chain or market; internal/node adapts the supervisor to a Router.
// See docs/gateway.md.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBaseDomain resolves to loopback without any DNS setup: every
// name under .localhost is 127.0.0.1 (RFC 6761) in browsers and curl.
const DefaultBaseDomain = "vimana.localhost"

// Options configure a Gateway. Only Routes is required.
type Options struct {
	// BaseDomain is the domain spacecores are named under; default
	// DefaultBaseDomain. Compared without case.
	BaseDomain string
	// Routes finds a spacecore's address.
	Routes Router
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry, if set, receives the gateway's metrics.
	Registry *prometheus.Registry
	// DialTimeout bounds connecting to a spacecore; default 5s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for a spacecore's response
	// headers (not the body, so streams and websockets are unaffected);
	// default 60s.
	ResponseHeaderTimeout time.Duration
	// ShutdownTimeout is how long a stopping server waits for requests in
	// flight before closing them; default 10s.
	ShutdownTimeout time.Duration
}

// Gateway routes requests to spacecores. It is an http.Handler and safe
// for concurrent use.
type Gateway struct {
	opts    Options
	base    string
	log     *slog.Logger
	proxy   *httputil.ReverseProxy
	metrics *metrics
}

var _ http.Handler = (*Gateway)(nil)

// New returns a Gateway. It panics if Routes is nil or a metric is
// already registered in Registry (both are wiring mistakes).
func New(o Options) *Gateway {
	if o.Routes == nil {
		panic("gateway: Options.Routes is nil")
	}
	if o.BaseDomain == "" {
		o.BaseDomain = DefaultBaseDomain
	}
	o.BaseDomain = strings.Trim(strings.ToLower(o.BaseDomain), ".")
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = 60 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	return &Gateway{
		opts:    o,
		base:    o.BaseDomain,
		log:     o.Logger,
		proxy:   newProxy(o, o.Logger),
		metrics: newMetrics(o.Registry),
	}
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	defer func() { g.metrics.observe(rec.status(), time.Since(start).Seconds()) }()

	rt, redirect, ok := resolve(r.Host, r.URL.Path, r.URL.EscapedPath(), g.base)
	if !ok {
		notFound("", g.base).write(rec, r)
		return
	}
	if redirect {
		loc := rt.prefix + "/"
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		code := http.StatusPermanentRedirect // keeps method and body
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		http.Redirect(rec, r, loc, code)
		return
	}
	t, err := g.opts.Routes.Lookup(r.Context(), rt.id)
	switch {
	case isNotFound(err):
		notFound(rt.id, g.base).write(rec, r)
		return
	case err != nil:
		g.log.Warn("gateway: route lookup failed", "spacecore", rt.id, "err", err)
		unavailable(rt.id).write(rec, r)
		return
	case !t.Up || t.Addr == "":
		notRunning(rt.id).write(rec, r)
		return
	}
	ctx := context.WithValue(r.Context(), routeKey{}, &routed{route: rt, target: t})
	g.proxy.ServeHTTP(rec, r.WithContext(ctx))
}
