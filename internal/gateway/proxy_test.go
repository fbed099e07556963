package gateway

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsEchoBackend completes a websocket handshake by hijacking the
// connection and then echoes every byte back, prefixed by the path it was
// reached on (so the test sees the route too).
func wsEchoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want websocket", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsAccept(r.Header.Get("Sec-WebSocket-Key")))
		fmt.Fprintf(brw, "path=%s\n", r.URL.Path)
		brw.Flush()
		_, _ = io.Copy(conn, brw)
	}))
	return s
}

// wsDial opens a websocket-style connection through the gateway over a raw
// TCP socket and returns it once the 101 has been read.
func wsDial(t *testing.T, gwAddr, host, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", gwAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, key)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) {
		t.Fatalf("Sec-WebSocket-Accept %q", got)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("Upgrade %q", resp.Header.Get("Upgrade"))
	}
	return conn, br
}

func TestWebsocketPassthrough(t *testing.T) {
	gw, routes := newTestGateway(t, Options{})
	routes.Set("ws", Target{Addr: addrOf(wsEchoBackend(t)), Up: true})
	for _, c := range []struct{ host, path, want string }{
		{"ws.vimana.localhost", "/chat", "path=/chat"},
		{"127.0.0.1", "/sc/ws/chat", "path=/chat"},
	} {
		t.Run(c.host+c.path, func(t *testing.T) {
			conn, br := wsDial(t, addrOf(gw), c.host, c.path)
			if line, err := br.ReadString('\n'); err != nil || line != c.want+"\n" {
				t.Fatalf("first line %q, %v", line, err)
			}
			for i := range 3 {
				msg := fmt.Sprintf("hello %d\n", i)
				if _, err := io.WriteString(conn, msg); err != nil {
					t.Fatal(err)
				}
				if got, err := br.ReadString('\n'); err != nil || got != msg {
					t.Fatalf("echo %q, %v; want %q", got, err, msg)
				}
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	gw, routes := newTestGateway(t, Options{})
	be := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Backend-Hop")
		w.Header().Set("X-Backend-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Backend-End", "kept")
		_ = json.NewEncoder(w).Encode(seen{Host: r.Host, Header: r.Header})
	}))
	routes.Set("sc-1", Target{Addr: addrOf(be), Up: true})

	h := http.Header{}
	for k, v := range map[string]string{
		// Spoofed forwarding headers: the gateway is the edge, so dropped.
		"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
		"X-Forwarded-Prefix": "/evil", "Forwarded": "for=6.6.6.6",
		// Hop-by-hop: Connection names X-Client-Hop, which must not pass.
		"Connection": "X-Client-Hop", "X-Client-Hop": "secret", "Proxy-Authorization": "Basic Zm9vOmJhcg==",
		"X-App": "kept",
	} {
		h.Set(k, v)
	}
	r := do(t, gw, "GET", "sc-1.vimana.localhost:7780", "/", h)
	s := decode(t, r)
	if s.Host != "sc-1.vimana.localhost:7780" {
		t.Errorf("backend saw Host %q", s.Host)
	}
	for k, v := range map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Host":  "sc-1.vimana.localhost:7780",
		"X-Forwarded-Proto": "http",
		"X-App":             "kept",
	} {
		if got := s.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("backend saw %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"Forwarded", "X-Forwarded-Prefix", "X-Client-Hop", "Proxy-Authorization"} {
		if v := s.Header.Get(k); v != "" {
			t.Errorf("backend saw %s = %q", k, v)
		}
	}
	for _, k := range []string{"X-Backend-Hop", "Keep-Alive"} {
		if v := r.Header.Get(k); v != "" {
			t.Errorf("client saw hop-by-hop %s = %q", k, v)
		}
	}
	if r.Header.Get("X-Backend-End") != "kept" {
		t.Errorf("end-to-end response header lost: %v", r.Header)
	}
}

func TestConcurrentRequests(t *testing.T) {
	gw, routes := newTestGateway(t, Options{})
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		be := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", id, r.URL.Path)
		}))
		routes.Set(id, Target{Addr: addrOf(be), Up: true})
	}
	var wg sync.WaitGroup
	// Routes change while requests are in flight.
	wg.Go(func() {
		for i := range 200 {
			routes.Set("churn", Target{Addr: "127.0.0.1:1", Up: i%2 == 0})
			routes.Delete("churn")
		}
	})
	client := gw.Client()
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				id := ids[(w+i)%len(ids)]
				url := gw.URL + fmt.Sprintf("/sc/%s/%d/%d", id, w, i)
				resp, err := client.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("%s /%d/%d", id, w, i); string(b) != want {
					t.Errorf("got %q, want %q", b, want)
				}
			}
		})
	}
	wg.Wait()
}
