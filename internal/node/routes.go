package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vistara-labs/vimana/internal/gateway"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/spacecore"
)

// routes adapts the supervisor to the gateway: a spacecore is reached on
// 127.0.0.1 at its first published host port.
// Leases not running here are looked up on the chain (leases, optional).
type routes struct {
	sup    *spacecore.Supervisor
	leases *leaseRoutes
}

func (r routes) Lookup(ctx context.Context, id string) (gateway.Target, error) {
	if _, err := r.sup.Get(id); err != nil {
		if errors.Is(err, hypercore.ErrNotFound) {
			if r.leases != nil {
				return r.leases.Lookup(ctx, id)
			}
			return gateway.Target{}, fmt.Errorf("spacecore %s: %w", id, gateway.ErrNotFound)
		}
		return gateway.Target{}, err
	}
	st, err := r.sup.Status(ctx, id)
	if err != nil || st.State != hypercore.StateRunning || len(st.Ports) == 0 {
		return gateway.Target{}, nil // known but not serving: 502
	}
	return gateway.Target{Addr: net.JoinHostPort("127.0.0.1", fmt.Sprint(st.Ports[0].HostPort)), Up: true}, nil
}

// gatewayACME is the gateway's TLS config when [gateway] acme is on.
func gatewayACME(home string, cfg Config, gw *gateway.Gateway) (*tls.Config, error) {
	if !cfg.Gateway.ACME {
		return nil, nil
	}
	dir := cfg.Gateway.ACMECacheDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(home, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return gw.ACMEConfig(gateway.ACME{CacheDir: dir, Email: cfg.Gateway.ACMEEmail, DirectoryURL: cfg.Gateway.ACMEDirectory})
}

func newGateway(cfg Config, sup *spacecore.Supervisor, leases *leaseRoutes, reg *prometheus.Registry, log *slog.Logger) *gateway.Gateway {
	return gateway.New(gateway.Options{BaseDomain: cfg.Gateway.BaseDomain, Routes: routes{sup: sup, leases: leases}, Logger: log, Registry: reg})
}
