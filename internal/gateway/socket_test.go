package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// probeHeader marks the test's own check that a fresh listener really
// answers for itself.
const probeHeader = "X-Gateway-Test-Probe"

// newServer is httptest.NewServer on 127.0.0.1:0 that first proves the
// port is ours. On this machine spacecores publish ports with iptables
// DNAT on every local address (see docs/sandbox.md); a port released by
// that bind check and then handed to us by the kernel would send our
// traffic into someone's container. So: probe, and take another port
// when the answer is not ours.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(probeHeader) == token {
			io.WriteString(w, token)
			return
		}
		h.ServeHTTP(w, r)
	})
	for range 20 {
		s := httptest.NewServer(wrapped)
		req, _ := http.NewRequest("GET", s.URL+"/", nil)
		req.Header.Set(probeHeader, token)
		resp, err := s.Client().Do(req)
		if err == nil {
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) == token {
				t.Cleanup(s.Close)
				return s
			}
		}
		t.Logf("port of %s is not ours (taken by a DNAT rule?); trying another", s.URL)
		defer s.Close() // keep it bound so the next try gets a new port
	}
	t.Fatal("no usable port on 127.0.0.1 after 20 tries")
	return nil
}
