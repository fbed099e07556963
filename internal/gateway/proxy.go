package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"time"
)

type routeKey struct{}

// routed is what ServeHTTP hands the proxy through the request context.
type routed struct {
	route
	target Target
}

// newProxy builds the one ReverseProxy every request goes through. The
// target comes from the request context, so no per-request proxy is built
// and backend connections are pooled across requests.
func newProxy(o Options, log *slog.Logger) *httputil.ReverseProxy {
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rt := pr.In.Context().Value(routeKey{}).(*routed)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = rt.target.Addr
			if rt.prefix != "" {
				pr.Out.URL.Path, pr.Out.URL.RawPath = rt.path, rt.rawPath
			}
			// The gateway is the edge: ReverseProxy has already dropped
			// the client's Forwarded/X-Forwarded-* headers, so these are
			// ours alone.
			pr.SetXForwarded()
			pr.Out.Header.Del("X-Forwarded-Prefix")
			if rt.prefix != "" {
				pr.Out.Header.Set("X-Forwarded-Prefix", rt.prefix)
			}
			// Apps see the name they were reached by, not 127.0.0.1:port.
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			// No Proxy: backends are local; HTTP_PROXY must not apply.
			DialContext:           dialer.DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: o.ResponseHeaderTimeout,
			ExpectContinueTimeout: time.Second,
			// Pass bodies through as encoded; a proxy must not gunzip.
			DisableCompression: true,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rt := r.Context().Value(routeKey{}).(*routed)
			if errors.Is(err, context.Canceled) {
				// The client went away; nobody reads this answer.
				log.Debug("gateway: client gone", "spacecore", rt.id, "err", err)
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			log.Warn("gateway: backend error", "spacecore", rt.id, "addr", rt.target.Addr, "err", err)
			notAnswering(rt.id).write(w, r)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
