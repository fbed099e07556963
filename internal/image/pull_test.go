package image

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

// countingRegistry is an in-process registry that counts requests.
func countingRegistry(t *testing.T) (host string, requests *atomic.Int64) {
	requests = &atomic.Int64{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), requests
}

func TestPullRegistryTagDigestAndCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host, requests := countingRegistry(t)
	img := twImage(t)
	pinned := imagetest.Push(t, host+"/tw:v1", img)
	s, dir := openStore(t)

	var events []Progress
	opts := PullOptions{Progress: func(p Progress) {
		if p.Done {
			events = append(events, p)
		}
	}}
	got, err := s.Pull(ctx, host+"/tw:v1", opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digestOf(t, img) {
		t.Fatalf("pulled %s, want %s", got.Digest, digestOf(t, img))
	}
	if len(events) != 2 || events[0].Phase != PhaseDownload || events[1].Phase != PhaseUnpack || events[0].Bytes != events[0].Total || events[1].Bytes != got.Size {
		t.Errorf("progress = %+v", events)
	}
	if fi, err := os.Stat(filepath.Join(got.RootFS, "bin/tw")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/tw in rootfs: %v %v", fi, err)
	}
	want := Config{Entrypoint: []string{"/bin/tw"}, Cmd: []string{"sleep"}, Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "A=1"}, ExposedPorts: []string{"8080/tcp"}}
	if !reflect.DeepEqual(got.Config, want) {
		t.Errorf("config = %+v, want %+v", got.Config, want)
	}
	if len(got.Layers) != 1 {
		t.Fatalf("layers = %v", got.Layers)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(got.Layers[0], "sha256:"))); err != nil {
		t.Errorf("layer blob not cached: %v", err)
	}

	// By digest, cached: no request, no unpack.
	before, n := requests.Load(), len(events)
	again, err := s.Pull(ctx, pinned, opts)
	if err != nil || again.RootFS != got.RootFS || len(events) != n || requests.Load() != before {
		t.Fatalf("cached digest pull: %v, rootfs %s vs %s, progress %d->%d, requests %d->%d", err, again.RootFS, got.RootFS, n, len(events), before, requests.Load())
	}
	// Cached, but too big for this machine's disk.
	if _, err := s.Pull(ctx, pinned, PullOptions{MaxSize: got.Size - 1}); !errors.Is(err, hypercore.ErrResources) {
		t.Errorf("cached pull over MaxSize: %v, want ErrResources", err)
	}
	// By tag again: the manifest is fetched, nothing unpacked.
	if _, err := s.Pull(ctx, host+"/tw:v1", opts); err != nil || len(events) != n {
		t.Fatalf("cached tag pull: %v, progress %d->%d", err, n, len(events))
	}
	if l, err := s.Lookup(host + "/tw:v1"); err != nil || l.Digest != got.Digest {
		t.Fatalf("Lookup = %v, %v", l, err)
	}
	if refs, err := s.RefsTo(got.Digest); err != nil || len(refs) != 2 {
		t.Errorf("RefsTo = %v, %v", refs, err)
	}
	if list, err := s.List(); err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}

	if err := s.Remove(got.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(got.Digest); !errors.Is(err, hypercore.ErrNotFound) {
		t.Fatalf("Get after Remove: %v", err)
	}
	if _, err := s.Lookup(host + "/tw:v1"); !errors.Is(err, hypercore.ErrNotFound) {
		t.Fatalf("Lookup after Remove: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256")); len(ents) != 0 {
		t.Errorf("blobs left after Remove: %v", ents)
	}
	assertClean(t, dir)

	// By digest into an empty store: pulled over the network.
	fresh, _ := openStore(t)
	if got2, err := fresh.Pull(ctx, pinned, PullOptions{}); err != nil || got2.Digest != got.Digest {
		t.Fatalf("digest pull: %v, %v", got2, err)
	}
}

func TestPullMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host := imagetest.Registry(t)
	s, dir := openStore(t)
	missing := []string{
		host + "/nothing:v1",
		host + "/nothing@sha256:" + strings.Repeat("ab", 32),
		PrefixLayout + filepath.Join(dir, "no-layout"),
		PrefixArchive + filepath.Join(dir, "no.tar"),
		imagetest.Layout(t, twImage(t), "v1") + "-other",
	}
	for _, ref := range missing {
		if _, err := s.Pull(ctx, ref, PullOptions{}); !errors.Is(err, hypercore.ErrNotFound) {
			t.Errorf("Pull(%s) = %v, want ErrNotFound", ref, err)
		}
	}
	for _, d := range []string{"../../etc", "sha256:xyz", ""} {
		if err := s.Remove(d); !errors.Is(err, hypercore.ErrInvalid) {
			t.Errorf("Remove(%q) = %v, want ErrInvalid", d, err)
		}
	}
	assertClean(t, dir)
}

func TestPullLayoutAndArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	img := twImage(t)
	s, _ := openStore(t)
	dir := t.TempDir()
	if err := WriteLayout(img, filepath.Join(dir, "layout"), "v2"); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(imageOf(t, layerOf(t, entry{name: "x", typ: '0'})), filepath.Join(dir, "layout"), "other"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pull(ctx, PrefixLayout+filepath.Join(dir, "layout")+":v2", PullOptions{})
	if err != nil || got.Digest != digestOf(t, img) {
		t.Fatalf("layout pull = %v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(got.RootFS, "bin/tw")); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "img.tar")
	if err := tarball.WriteToFile(archive, nil, img); err != nil {
		t.Fatal(err)
	}
	got2, err := s.Pull(ctx, PrefixArchive+archive, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(got2.RootFS, "bin/tw")); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Lookup(PrefixArchive + archive); err != nil || l.Digest != got2.Digest {
		t.Fatalf("Lookup(archive) = %v, %v", l, err)
	}
}

func TestPullConcurrentUnpacksOnce(t *testing.T) {
	t.Parallel()
	ref := imagetest.Layout(t, twImage(t), "latest")
	s, _ := openStore(t)
	var unpacks atomic.Int64
	opts := PullOptions{Progress: func(p Progress) {
		if p.Done {
			unpacks.Add(1)
		}
	}}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.Pull(context.Background(), ref, opts); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if unpacks.Load() != 1 {
		t.Errorf("4 concurrent pulls unpacked %d times, want 1", unpacks.Load())
	}
}

func TestPullCancelled(t *testing.T) {
	t.Parallel()
	s, dir := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Pull(ctx, imagetest.Layout(t, twImage(t), "latest"), PullOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertClean(t, dir)
}

func TestStaleWorkIsCleaned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	// pid 2^22+1 is above Linux's pid_max: certainly dead.
	stale := filepath.Join(dir, "tmp", "4194305-unpack-123")
	if err := os.MkdirAll(filepath.Join(stale, "usr"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale work dir survived Open: %v", err)
	}
}

func TestAllowHTTP(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true, "localhost": true,
		"10.0.0.5:5000": false, "registry.local:5000": false, "ghcr.io": false, "lan:5000": true,
	} {
		if got := allowHTTP(host, []string{"lan:5000"}); got != want {
			t.Errorf("allowHTTP(%s) = %v, want %v", host, got, want)
		}
	}
}
