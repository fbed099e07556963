package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/gateway"
)

func TestConfigACME(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"public domain", func(c *Config) { c.Gateway.ACME, c.Gateway.BaseDomain = true, "apps.example.com" }, ""},
		{"loopback domain", func(c *Config) { c.Gateway.ACME = true }, "public DNS base_domain"},
		{"ip", func(c *Config) { c.Gateway.ACME, c.Gateway.BaseDomain = true, "203.0.113.7" }, "public DNS base_domain"},
		{"with cert", func(c *Config) {
			c.Gateway.ACME, c.Gateway.BaseDomain, c.Gateway.TLSCert, c.Gateway.TLSKey = true, "apps.example.com", "c.pem", "k.pem"
		}, "exclude each other"},
		{"no cache", func(c *Config) {
			c.Gateway.ACME, c.Gateway.BaseDomain, c.Gateway.ACMECacheDir = true, "apps.example.com", ""
		}, "acme_cache_dir"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mutate(&c)
		err := c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestGatewayACMEPolicy: the ACME TLS config only asks a CA for names the
// gateway serves; a stranger's name is refused locally (no CA contacted).
func TestGatewayACMEPolicy(t *testing.T) {
	home := t.TempDir()
	cfg := DefaultConfig()
	cfg.Gateway.ACME, cfg.Gateway.BaseDomain = true, "apps.example.com"
	cfg.Gateway.ACMEDirectory = "http://127.0.0.1:1/directory" // never reached
	routes := &gateway.StaticRouter{}
	gw := gateway.New(gateway.Options{BaseDomain: cfg.Gateway.BaseDomain, Routes: routes})
	tc, err := gatewayACME(home, cfg, gw)
	if err != nil || tc == nil || tc.GetCertificate == nil {
		t.Fatalf("acme tls config: %v %v", tc, err)
	}
	if fi, err := os.Stat(filepath.Join(home, "acme")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir: %v %v", fi, err)
	}
	for _, name := range []string{"evil.example.org", "nosuch.apps.example.com"} {
		_, err := tc.GetCertificate(&tls.ClientHelloInfo{ServerName: name, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}})
		if err == nil || !strings.Contains(err.Error(), "no certificate") {
			t.Errorf("certificate for %s: %v", name, err)
		}
	}
	off := DefaultConfig()
	if tc, err := gatewayACME(home, off, gw); tc != nil || err != nil {
		t.Errorf("acme off: %v %v", tc, err)
	}
}

// TestServerTLS: the node's listener serves HTTPS from tls_cert/tls_key.
func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir, "web.vimana.test")
	s := &server{name: "gateway", addr: "127.0.0.1:0", certFile: certFile, keyFile: keyFile,
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls ok "+r.Host) })}
	if err := s.listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx) }()
	defer func() { cancel(); <-done }()
	addr := s.ln.Addr().String()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "web.vimana.test"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	resp, err := hc.Get("https://web.vimana.test/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "tls ok web.vimana.test" || resp.TLS == nil {
		t.Fatalf("https: %d %q", resp.StatusCode, b)
	}
	// Plain HTTP to the TLS listener is not served as HTTP.
	if r, err := http.Get("http://" + addr + "/"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}
}

func selfSigned(t *testing.T, dir, host string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
