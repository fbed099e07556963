package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newListener listens on 127.0.0.1:0 and proves the port is ours (see
// newServer) by accepting a connection it dialled itself.
func newListener(t *testing.T) net.Listener {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
			a, aerr := ln.Accept()
			_ = ln.(*net.TCPListener).SetDeadline(time.Time{})
			c.Close()
			if aerr == nil {
				ours := a.RemoteAddr().String() == c.LocalAddr().String()
				a.Close()
				if ours {
					t.Cleanup(func() { ln.Close() })
					return ln
				}
			}
		}
		defer ln.Close() // keep it bound so the next try gets a new port
	}
	t.Fatal("no usable port on 127.0.0.1 after 20 tries")
	return nil
}

// stopSignal is a slog.Handler that closes stopping when the gateway
// logs that it is stopping.
type stopSignal struct {
	slog.Handler
	stopping chan struct{}
}

func (s stopSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "gateway stopping" {
		close(s.stopping)
	}
	return nil
}

func (s stopSignal) Enabled(context.Context, slog.Level) bool { return true }

func (s stopSignal) WithAttrs([]slog.Attr) slog.Handler { return s }

func TestServeStopsGracefully(t *testing.T) {
	routes := &StaticRouter{}
	got, release := make(chan struct{}), make(chan struct{})
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(got)
		<-release
		io.WriteString(w, "finished")
	}))
	routes.Set("slow", Target{Addr: addrOf(slow), Up: true})
	routes.Set("ws", Target{Addr: addrOf(wsEchoBackend(t)), Up: true})
	sig := stopSignal{slog.DiscardHandler, make(chan struct{})}
	g := New(Options{Routes: routes, Logger: slog.New(sig)})

	ln := newListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()
	addr := ln.Addr().String()

	ws, wsr := wsDial(t, addr, "ws.vimana.localhost", "/")
	if _, err := wsr.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/sc/slow/")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	<-got // the slow request is in flight
	cancel()
	<-sig.stopping // and the server is shutting down
	close(release)
	if r := <-res; r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after stop: %v", err)
	}
	// The websocket is hijacked, so the server does not wait for it; it is
	// closed once the graceful part is over.
	if _, err := io.ReadAll(wsr); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("websocket ended with %v", err)
	}
	ws.Close()
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("listener still accepting after stop")
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and
// *.vimana.localhost and returns the pool that trusts it.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "vimana gateway test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"vimana.localhost", "*.vimana.localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	routes := &StaticRouter{}
	routes.Set("sc-1", Target{Addr: addrOf(echoBackend(t)), Up: true})
	g := New(Options{Routes: routes, Logger: slog.New(slog.DiscardHandler)})
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln := newListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.ServeTLS(ctx, ln, &tls.Config{Certificates: []tls.Certificate{cert}}) }()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+"/x", nil)
	req.Host = "sc-1.vimana.localhost"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := decode(t, resp)
	resp.Body.Close()
	if s.Path != "/x" || s.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("backend saw %s with X-Forwarded-Proto %q", s.Path, s.Header.Get("X-Forwarded-Proto"))
	}
	client.CloseIdleConnections()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("ServeTLS after stop: %v", err)
	}
}

func TestListenErrors(t *testing.T) {
	g := New(Options{Routes: &StaticRouter{}, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	dir := t.TempDir()
	if err := g.ListenAndServeTLS(ctx, "127.0.0.1:0", filepath.Join(dir, "no.pem"), filepath.Join(dir, "no.key")); err == nil || !strings.Contains(err.Error(), "TLS key pair") {
		t.Errorf("missing cert files: %v", err)
	}
	if err := g.ListenAndServe(ctx, "256.0.0.1:http"); err == nil {
		t.Error("bad address accepted")
	}
	if err := g.ListenAndServeACME(ctx, "127.0.0.1:0", ACME{}); err == nil {
		t.Error("ACME without a cache directory accepted")
	}
}

func TestACMEHostPolicy(t *testing.T) {
	routes := &StaticRouter{}
	routes.Set("sc-1", Target{Up: false}) // known, even if down: it gets a certificate
	g := New(Options{Routes: routes, BaseDomain: "apps.example.com"})
	for host, ok := range map[string]bool{
		"apps.example.com":        true,
		"sc-1.apps.example.com":   true,
		"nope.apps.example.com":   false,
		"a.sc-1.apps.example.com": false,
		"sc-1.example.org":        false,
		"x_y.apps.example.com":    false,
	} {
		if err := g.hostPolicy(context.Background(), host); (err == nil) != ok {
			t.Errorf("hostPolicy(%s) = %v, want allowed=%v", host, err, ok)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	gw, routes := newTestGateway(t, Options{Registry: reg})
	routes.Set("ok", Target{Addr: addrOf(echoBackend(t)), Up: true})
	routes.Set("down", Target{Up: false})
	routes.Set("ws", Target{Addr: addrOf(wsEchoBackend(t)), Up: true})
	for _, host := range []string{"ok", "ok", "nope", "down"} {
		do(t, gw, "GET", host+".vimana.localhost", "/", nil)
	}
	ws, _ := wsDial(t, addrOf(gw), "ws.vimana.localhost", "/")
	ws.Close()

	want := map[string]float64{"1xx": 1, "2xx": 2, "4xx": 1, "5xx": 1}
	// The websocket is counted when its handler returns, after the close
	// reaches it; wait for that rather than for a fixed time.
	for {
		counts, total := gather(t, reg)
		if counts["1xx"] == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for class, n := range want {
			if counts[class] != n {
				t.Errorf("requests{code=%q} = %v, want %v", class, counts[class], n)
			}
		}
		if total != 5 {
			t.Errorf("latency histogram has %d samples, want 5", total)
		}
		return
	}
}

func gather(t *testing.T, reg *prometheus.Registry) (map[string]float64, uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts, total := map[string]float64{}, uint64(0)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "vimana_gateway_requests_total":
				counts[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			case "vimana_gateway_request_duration_seconds":
				total = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return counts, total
}
