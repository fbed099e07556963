package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vistara-labs/vimana/internal/spacecore"
)

// newGateway is replaced by internal/gateway wiring.
func newGateway(cfg Config, sup *spacecore.Supervisor, reg *prometheus.Registry, log *slog.Logger) http.Handler {
	_ = reg
	_ = log
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, rest := "", r.URL.Path
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if sub, ok := strings.CutSuffix(strings.ToLower(host), "."+cfg.Gateway.BaseDomain); ok {
			id = sub
		} else if p, ok := strings.CutPrefix(r.URL.Path, "/sc/"); ok {
			id, rest, _ = strings.Cut(p, "/")
			rest = "/" + rest
		}
		st, err := sup.Status(context.Background(), id)
		if id == "" || err != nil || len(st.Ports) == 0 {
			http.Error(w, fmt.Sprintf("spacecore %q is not running here", id), http.StatusBadGateway)
			return
		}
		target := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", st.Ports[0].HostPort)}
		rp := httputil.NewSingleHostReverseProxy(target)
		r.URL.Path = rest
		rp.ServeHTTP(w, r)
	})
}
