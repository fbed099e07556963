package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

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

func newGateway(cfg Config, sup *spacecore.Supervisor, leases *leaseRoutes, reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return gateway.New(gateway.Options{BaseDomain: cfg.Gateway.BaseDomain, Routes: routes{sup: sup, leases: leases}, Logger: log, Registry: reg})
}
