package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// seen is what the echo backend reports about the request it got.
type seen struct {
	Method, Path, RawPath, Query, Host string
	Header                             http.Header
}

// echoBackend answers every request with a JSON description of it.
func echoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.Header})
	}))
	return s
}

func addrOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// newTestGateway serves a Gateway over a real socket; routes is returned
// for the test to change.
func newTestGateway(t *testing.T, o Options) (*httptest.Server, *StaticRouter) {
	t.Helper()
	routes, _ := o.Routes.(*StaticRouter)
	if routes == nil {
		routes = &StaticRouter{}
		o.Routes = routes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	gw := newServer(t, New(o))
	return gw, routes
}

// do sends a request to the gateway with the given Host header.
func do(t *testing.T, gw *httptest.Server, method, host, path string, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, gw.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode(t *testing.T, resp *http.Response) seen {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var s seen
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHostRouting(t *testing.T) {
	gw, routes := newTestGateway(t, Options{})
	be := echoBackend(t)
	routes.Set("sc-1", Target{Addr: addrOf(be), Up: true})
	for _, host := range []string{"sc-1.vimana.localhost", "SC-1.Vimana.LocalHost:7780", "sc-1.vimana.localhost.", "sc-1.vimana.localhost.:80"} {
		t.Run(host, func(t *testing.T) {
			// Host routing forwards the path untouched, even one that looks
			// like the path fallback.
			s := decode(t, do(t, gw, "GET", host, "/sc/other/x?a=1&b=%20", nil))
			if s.Path != "/sc/other/x" || s.Query != "a=1&b=%20" || s.Host != host {
				t.Errorf("backend saw %s ? %s host %s", s.Path, s.Query, s.Host)
			}
			if p := s.Header.Get("X-Forwarded-Prefix"); p != "" {
				t.Errorf("X-Forwarded-Prefix = %q on a host-routed request", p)
			}
		})
	}
}

func TestCustomBaseDomain(t *testing.T) {
	gw, routes := newTestGateway(t, Options{BaseDomain: "Apps.Example.COM."})
	be := echoBackend(t)
	routes.Set("web", Target{Addr: addrOf(be), Up: true})
	decode(t, do(t, gw, "GET", "web.apps.example.com", "/", nil))
	if r := do(t, gw, "GET", "web.vimana.localhost", "/", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("default base domain still routed: %d", r.StatusCode)
	}
}

func TestPathFallback(t *testing.T) {
	gw, routes := newTestGateway(t, Options{})
	be := echoBackend(t)
	routes.Set("sc-1", Target{Addr: addrOf(be), Up: true})
	cases := []struct{ host, path, wantPath, wantRaw, wantQuery string }{
		{"127.0.0.1", "/sc/sc-1/", "/", "", ""},
		{"vimana.localhost", "/sc/sc-1/a/b?x=1&y=two", "/a/b", "", "x=1&y=two"},
		{"", "/sc/SC-1/a%2Fb/c?q=%2F", "/a/b/c", "/a%2Fb/c", "q=%2F"},
		{"a.b.vimana.localhost", "/sc/sc-1/deep/", "/deep/", "", ""},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			s := decode(t, do(t, gw, "GET", c.host, c.path, nil))
			if s.Path != c.wantPath || s.RawPath != c.wantRaw || s.Query != c.wantQuery {
				t.Errorf("backend saw path %q raw %q query %q, want %q %q %q", s.Path, s.RawPath, s.Query, c.wantPath, c.wantRaw, c.wantQuery)
			}
			if p := s.Header.Get("X-Forwarded-Prefix"); p != "/sc/sc-1" {
				t.Errorf("X-Forwarded-Prefix = %q", p)
			}
		})
	}
}

func TestPathRedirect(t *testing.T) {
	gw, routes := newTestGateway(t, Options{})
	routes.Set("sc-1", Target{Addr: "127.0.0.1:1", Up: true})
	cases := []struct {
		method, path string
		code         int
		loc          string
	}{
		{"GET", "/sc/sc-1", http.StatusMovedPermanently, "/sc/sc-1/"},
		{"HEAD", "/sc/sc-1?a=1&b=2", http.StatusMovedPermanently, "/sc/sc-1/?a=1&b=2"},
		{"POST", "/sc/SC-1?x", http.StatusPermanentRedirect, "/sc/sc-1/?x"},
	}
	for _, c := range cases {
		t.Run(c.method+c.path, func(t *testing.T) {
			r := do(t, gw, c.method, "127.0.0.1", c.path, nil)
			if r.StatusCode != c.code || r.Header.Get("Location") != c.loc {
				t.Errorf("%d %q, want %d %q", r.StatusCode, r.Header.Get("Location"), c.code, c.loc)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	gw, routes := newTestGateway(t, Options{})
	routes.Set("sc-1", Target{Addr: "127.0.0.1:1", Up: true})
	routes.Set("gone", Target{Addr: "127.0.0.1:1", Up: true})
	routes.Delete("gone")
	cases := []struct{ host, path, want string }{
		{"nope.vimana.localhost", "/", "no spacecore nope"},
		{"gone.vimana.localhost", "/", "no spacecore gone"},
		{"127.0.0.1", "/sc/nope/", "no spacecore nope"},
		{"127.0.0.1", "/", "no spacecore named"},
		{"vimana.localhost", "/", "no spacecore named"},
		{"a_b.vimana.localhost", "/", "no spacecore named"},
		{"-x.vimana.localhost", "/", "no spacecore named"},
		{"sc-1.example.com", "/", "no spacecore named"},
		{"127.0.0.1", "/sc//", "no spacecore named"},
		{"127.0.0.1", "/sc/" + strings.Repeat("a", 64) + "/", "no spacecore named"},
	}
	for _, c := range cases {
		t.Run(c.host+c.path, func(t *testing.T) {
			r := do(t, gw, "GET", c.host, c.path, nil)
			if b := body(t, r); r.StatusCode != http.StatusNotFound || !strings.Contains(b, c.want) {
				t.Errorf("%d %q, want 404 containing %q", r.StatusCode, b, c.want)
			}
		})
	}
}

func TestBadGateway(t *testing.T) {
	gw, routes := newTestGateway(t, Options{})
	closed := echoBackend(t)
	closed.Close()
	routes.Set("closed", Target{Addr: addrOf(closed), Up: true})
	routes.Set("stopped", Target{Addr: "127.0.0.1:1", Up: false})
	routes.Set("noport", Target{Up: true})
	cases := []struct{ id, accept, want, ctype string }{
		{"closed", "", "spacecore closed is not answering", "text/plain"},
		{"closed", "*/*", "spacecore closed is not answering", "text/plain"},
		{"closed", "text/html,application/xhtml+xml,*/*;q=0.8", "<h1>502 — spacecore closed is not answering</h1>", "text/html"},
		{"stopped", "text/plain, text/html;q=0.5", "spacecore stopped is not running", "text/plain"},
		{"stopped", "text/html", "spacecore stopped is not running", "text/html"},
		{"noport", "", "spacecore noport is not running", "text/plain"},
	}
	for _, c := range cases {
		t.Run(c.id+" "+c.accept, func(t *testing.T) {
			h := http.Header{}
			if c.accept != "" {
				h.Set("Accept", c.accept)
			}
			// Both ways of naming a spacecore reach the same page.
			for _, r := range []*http.Response{
				do(t, gw, "GET", c.id+".vimana.localhost", "/", h),
				do(t, gw, "GET", "127.0.0.1", "/sc/"+c.id+"/", h),
			} {
				b := body(t, r)
				if r.StatusCode != http.StatusBadGateway || !strings.Contains(b, c.want) {
					t.Errorf("%d %q, want 502 containing %q", r.StatusCode, b, c.want)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.ctype) {
					t.Errorf("Content-Type %q, want %s", ct, c.ctype)
				}
			}
		})
	}
}

func TestHTMLEscapesID(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "text/html")
	notFound(`<script>`, "x").write(rec, req)
	if b := rec.Body.String(); strings.Contains(b, "<script>") {
		t.Errorf("unescaped: %s", b)
	}
}

func TestPrefersHTML(t *testing.T) {
	cases := map[string]bool{
		"":                                    false,
		"*/*":                                 false,
		"text/html":                           true,
		"TEXT/HTML; q=0.9, text/plain; q=0.8": true,
		"text/plain, text/html":               true,
		"text/plain;q=1, text/html;q=0.5":     false,
		"text/html;q=0":                       false,
		"application/xhtml+xml":               true,
		"application/json":                    false,
	}
	for accept, want := range cases {
		if got := prefersHTML([]string{accept}); got != want {
			t.Errorf("prefersHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}
