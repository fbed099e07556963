package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ListenAndServe serves plain HTTP on addr until ctx ends, then stops
// gracefully (see Serve).
func (g *Gateway) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return g.Serve(ctx, ln)
}

// ListenAndServeTLS serves HTTPS on addr with the certificate and key in
// the given PEM files (a wildcard for *.<base-domain> covers every
// spacecore) until ctx ends.
func (g *Gateway) ListenAndServeTLS(ctx context.Context, addr, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("gateway: loading TLS key pair: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return g.ServeTLS(ctx, ln, &tls.Config{Certificates: []tls.Certificate{cert}})
}

// ACME configures certificates from an ACME CA, one per spacecore name,
// obtained on first connection with the TLS-ALPN-01 challenge (so the
// listener must be reachable from the CA on port 443).
type ACME struct {
	// CacheDir keeps the account key and certificates across restarts;
	// required, since re-issuing on every start hits CA rate limits.
	CacheDir string
	// Email is given to the CA for expiry notices; optional.
	Email string
	// DirectoryURL defaults to Let's Encrypt production.
	DirectoryURL string
}

// ACMEConfig returns a TLS config that obtains certificates from ACME for
// the base domain and <id>.<base-domain> names the Router knows (see
// ListenAndServeACME), for callers that run their own listener.
func (g *Gateway) ACMEConfig(a ACME) (*tls.Config, error) {
	if a.CacheDir == "" {
		return nil, errors.New("gateway: ACME needs a cache directory")
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(a.CacheDir),
		HostPolicy: g.hostPolicy,
		Email:      a.Email,
	}
	if a.DirectoryURL != "" {
		m.Client = &acme.Client{DirectoryURL: a.DirectoryURL}
	}
	cfg := m.TLSConfig()
	cfg.MinVersion = tls.VersionTLS12
	return cfg, nil
}

// ListenAndServeACME serves HTTPS on addr with certificates from ACME until
// ctx ends. Only the base domain and <id>.<base-domain> names whose id the
// Router knows get a certificate, so strangers cannot make the node
// request certificates for arbitrary names.
func (g *Gateway) ListenAndServeACME(ctx context.Context, addr string, a ACME) error {
	if a.CacheDir == "" {
		return errors.New("gateway: ACME needs a cache directory")
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(a.CacheDir),
		HostPolicy: g.hostPolicy,
		Email:      a.Email,
	}
	if a.DirectoryURL != "" {
		m.Client = &acme.Client{DirectoryURL: a.DirectoryURL}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return g.ServeTLS(ctx, ln, m.TLSConfig())
}

// hostPolicy is autocert's gate: the base domain or a known spacecore.
func (g *Gateway) hostPolicy(ctx context.Context, host string) error {
	if host == g.base {
		return nil
	}
	id, ok := hostID(host, g.base)
	if !ok || !validLabel(id) {
		return fmt.Errorf("gateway: no certificate for %q: not under %s", host, g.base)
	}
	if _, err := g.opts.Routes.Lookup(ctx, id); err != nil {
		return fmt.Errorf("gateway: no certificate for %q: %w", host, err)
	}
	return nil
}

// Serve serves plain HTTP on ln until ctx ends. Then it stops accepting,
// lets requests in flight finish for up to Options.ShutdownTimeout, and
// closes what remains, websockets included. It returns nil after a stop
// that ctx asked for (an error if requests outlived the timeout), and the
// server's error otherwise.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	return g.serve(ctx, ln, nil)
}

// ServeTLS is Serve over TLS with cfg (HTTP/2 is offered unless cfg sets
// NextProtos).
func (g *Gateway) ServeTLS(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	cfg = cfg.Clone()
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return g.serve(ctx, ln, cfg)
}

func (g *Gateway) serve(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	// Requests get a base context of their own, cancelled only after the
	// graceful part of shutdown: hijacked (websocket) connections are not
	// tracked by http.Server, and cancelling their request context is
	// what makes ReverseProxy close them.
	base, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	srv := &http.Server{
		Handler:           g,
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          g.proxy.ErrorLog,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() {
		if cfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "tls", cfg != nil, "base_domain", g.base)
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("gateway stopping", "addr", ln.Addr().String())
	sctx, cancel := context.WithTimeout(context.Background(), g.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	hardStop()
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("gateway: graceful stop: %w", err)
	}
	<-errc // http.ErrServerClosed
	return err
}
