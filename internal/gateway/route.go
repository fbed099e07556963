package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
)

// ErrNotFound is what a Router's Lookup wraps when no spacecore has the
// id; the gateway answers 404 for it and 502 for every other error.
// Adapters translate their own "not found" class into this one so that
// the gateway depends on no other package's errors.
var ErrNotFound = errors.New("not found")

// Router tells the gateway where a spacecore listens. It is called once
// per request, so it must be cheap and safe for concurrent use.
type Router interface {
	Lookup(ctx context.Context, id string) (Target, error)
}

// Target is where a spacecore's HTTP port is reachable from this node.
type Target struct {
	// Addr is "host:port", e.g. a spacecore IP with its port or
	// "127.0.0.1:<published host port>".
	Addr string
	// Up reports whether the spacecore is running; the gateway answers
	// 502 without dialling when it is false.
	Up bool
}

// StaticRouter is a Router over a map, for tests and fixed setups.
// The zero value is empty and ready to use.
type StaticRouter struct {
	mu     sync.RWMutex
	routes map[string]Target
}

var _ Router = (*StaticRouter)(nil)

// Set adds or replaces the route for id (lower-cased, like every id the
// gateway looks up).
func (s *StaticRouter) Set(id string, t Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.routes == nil {
		s.routes = make(map[string]Target)
	}
	s.routes[strings.ToLower(id)] = t
}

// Delete removes the route for id, if any.
func (s *StaticRouter) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.routes, strings.ToLower(id))
}

// Lookup implements Router.
func (s *StaticRouter) Lookup(_ context.Context, id string) (Target, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.routes[id]
	if !ok {
		return Target{}, fmt.Errorf("spacecore %s: %w", id, ErrNotFound)
	}
	return t, nil
}

// route is how one request maps onto a spacecore.
type route struct {
	id string
	// prefix is "/sc/<id>" for the path fallback, "" for Host routing.
	prefix string
	// path and rawPath replace the request's for the path fallback
	// (rawPath may be ""); Host-routed requests keep their URL.
	path, rawPath string
}

// resolve finds the spacecore a request names. Host routing wins: a
// request to <id>.<base> goes to id whatever its path. Otherwise the path
// fallback /sc/<id>/... applies on any Host. ok is false when the request
// names no valid id; redirect is true for "/sc/<id>" without the slash.
func resolve(host, path, escapedPath, base string) (rt route, redirect, ok bool) {
	if id, found := hostID(host, base); found {
		return route{id: id, path: path}, false, validLabel(id)
	}
	after, found := strings.CutPrefix(path, "/sc/")
	if !found {
		return route{}, false, false
	}
	seg, rest, slash := strings.Cut(after, "/")
	id := strings.ToLower(seg)
	if !validLabel(id) {
		return route{}, false, false
	}
	rt = route{id: id, prefix: "/sc/" + id, path: "/" + rest}
	if !slash {
		return rt, true, true
	}
	// Keep the client's encoding of the rest (e.g. %2F) when it has one;
	// url.URL.EscapedPath drops rawPath again if it does not match path.
	if escapedPath != path {
		if e, ok := strings.CutPrefix(escapedPath, "/sc/"); ok {
			if i := strings.IndexByte(e, '/'); i >= 0 {
				rt.rawPath = e[i:]
			}
		}
	}
	return rt, false, true
}

// hostID returns the label in front of "."+base in host, ignoring case,
// a port and a trailing dot. found is false when host is not under base
// or has more than one label in front of it.
func hostID(host, base string) (id string, found bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	sub, ok := strings.CutSuffix(host, "."+base)
	if !ok || sub == "" || strings.Contains(sub, ".") {
		return "", false
	}
	return sub, true
}

// validLabel reports whether s is a lower-case DNS label (RFC 1123):
// 1–63 of [a-z0-9-], not starting or ending with '-'.
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, ErrNotFound) }
