// Package imagetest helps tests build OCI images in code and serve them
// from go-containerregistry's in-process registry on 127.0.0.1 (no outside
// registry is reachable from CI). Imported only by tests and bench/; it
// must not import internal/image (whose own tests use it) or anything
// above it.
package imagetest

import (
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry starts an in-process registry and returns its host:port.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

var (
	binMu    sync.Mutex
	binCache = map[string]string{}
)

// GoBinary builds the Go main package at pkg (an import path or a
// directory relative to the module root) as a static binary, once per
// test process, and returns its path. Binaries live in one directory per
// checkout under os.TempDir, one file per package, replaced atomically,
// so test runs do not pile up copies.
func GoBinary(t testing.TB, pkg string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binCache[pkg]; ok {
		return p
	}
	root := moduleRoot(t)
	// One directory per checkout: engineers sharing a machine build
	// different sources.
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("vimana-imagetest-%x", sha256.Sum256([]byte(root)))[:len("vimana-imagetest-")+12])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, strings.NewReplacer("/", "_", ".", "_").Replace(strings.Trim(pkg, "./")))
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	binCache[pkg] = out
	return out
}

func moduleRoot(t testing.TB) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// Layout writes img into a fresh OCI layout under t.TempDir(), tagged tag
// (the org.opencontainers.image.ref.name annotation), and returns the
// "oci-layout:DIR:TAG" reference.
func Layout(t testing.TB, img v1.Image, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
	return "oci-layout:" + dir + ":" + tag
}

// Push uploads img to ref (on a Registry host; plain http) and returns
// ref pinned by digest ("host/repo@sha256:...").
func Push(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return r.Context().Name() + "@" + d.String()
}
