package node

import (
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vistara-labs/vimana/internal/spacecore"
)

// newGateway is the node's ingress: Host <id>.<base_domain> or the path
// fallback /sc/<id>/ is proxied to the spacecore's first published port.
// Unknown ids answer 404, known but unreachable ones a 502 page.
// (internal/gateway, when it lands, replaces this with TLS and metrics.)
func newGateway(cfg Config, sup *spacecore.Supervisor, reg *prometheus.Registry, log *slog.Logger) http.Handler {
	_ = reg
	base := strings.ToLower(cfg.Gateway.BaseDomain)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, path := route(r, base)
		if id == "" {
			http.Error(w, "no spacecore named in Host (<id>."+base+") or path (/sc/<id>/)", http.StatusNotFound)
			return
		}
		if path == "" { // /sc/<id> -> /sc/<id>/
			http.Redirect(w, r, "/sc/"+id+"/", http.StatusMovedPermanently)
			return
		}
		if _, err := sup.Get(id); err != nil {
			http.Error(w, fmt.Sprintf("no spacecore %q on this node", id), http.StatusNotFound)
			return
		}
		st, err := sup.Status(r.Context(), id)
		if err != nil || len(st.Ports) == 0 {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "<h1>502</h1><p>spacecore %s is not running or publishes no port.</p>\n", html.EscapeString(id))
			return
		}
		target := net.JoinHostPort("127.0.0.1", fmt.Sprint(st.Ports[0].HostPort))
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.URL.Scheme, pr.Out.URL.Host = "http", target
				pr.Out.URL.Path, pr.Out.URL.RawPath = path, ""
				pr.SetXForwarded()
				pr.Out.Host = pr.In.Host
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				log.Debug("gateway: backend error", "spacecore", id, "err", err)
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprintf(w, "<h1>502</h1><p>spacecore %s is not answering.</p>\n", html.EscapeString(id))
			},
		}
		rp.ServeHTTP(w, r)
	})
}

// route extracts the spacecore id and the path to forward.
func route(r *http.Request, base string) (id, path string) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if sub, ok := strings.CutSuffix(host, "."+base); ok && !strings.Contains(sub, ".") {
		return sub, r.URL.Path
	}
	if p, ok := strings.CutPrefix(r.URL.Path, "/sc/"); ok {
		id, rest, found := strings.Cut(p, "/")
		if !found {
			return id, ""
		}
		return id, "/" + rest
	}
	return "", ""
}
