package node

import (
	"net/http/httptest"
	"testing"
)

func TestRoute(t *testing.T) {
	cases := []struct{ host, path, id, fwd string }{
		{"sc-1.vimana.localhost:7780", "/a?b", "sc-1", "/a"},
		{"SC-1.Vimana.Localhost", "/", "sc-1", "/"},
		{"127.0.0.1:7780", "/sc/sc-2/x/y", "sc-2", "/x/y"},
		{"127.0.0.1:7780", "/sc/sc-2", "sc-2", ""},
		{"a.b.vimana.localhost", "/", "", ""},
		{"example.com", "/", "", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "http://x"+c.path, nil)
		r.Host = c.host
		id, fwd := route(r, "vimana.localhost")
		if id != c.id || fwd != c.fwd {
			t.Errorf("route(%s %s) = %q %q, want %q %q", c.host, c.path, id, fwd, c.id, c.fwd)
		}
	}
}
