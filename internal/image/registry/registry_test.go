package registry

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// serve runs a Registry over dir until the test ends or stop is called.
func serve(t *testing.T, dir string) (host string, stop func()) {
	t.Helper()
	r, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	var once bool
	stop = func() {
		if !once {
			once = true
			srv.Close()
			r.Close()
		}
	}
	t.Cleanup(stop)
	return strings.TrimPrefix(srv.URL, "http://"), stop
}

// TestManifestsSurviveRestart: an image pushed by tag is served by tag and
// digest after the registry restarts on the same directory; a deleted
// tag stays deleted.
func TestManifestsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	host, stop := serve(t, dir)
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	for _, tag := range []string{"v1", "gone"} {
		ref, _ := name.ParseReference(host+"/app/x:"+tag, name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	gone, _ := name.ParseReference(host+"/app/x:gone", name.Insecure)
	if err := remote.Delete(gone); err != nil {
		t.Fatal(err)
	}
	stop()

	host, _ = serve(t, dir)
	for _, s := range []string{host + "/app/x:v1", host + "/app/x@" + d.String()} {
		ref, _ := name.ParseReference(s, name.Insecure)
		got, err := remote.Image(ref)
		if err != nil {
			t.Fatalf("after restart, %s: %v", s, err)
		}
		if gd, _ := got.Digest(); gd != d {
			t.Fatalf("%s digest = %s, want %s", s, gd, d)
		}
		ls, _ := got.Layers()
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("layer of %s: %v", s, err)
			}
			rc.Close()
		}
	}
	gone, _ = name.ParseReference(host+"/app/x:gone", name.Insecure)
	if _, err := remote.Image(gone); err == nil {
		t.Error("deleted tag is back after restart")
	}
}

func TestManifestPath(t *testing.T) {
	for p, want := range map[string][2]string{
		"/v2/a/manifests/v1":              {"a", "v1"},
		"/v2/org/app/manifests/sha256:ab": {"org/app", "sha256:ab"},
		"/v2/a/blobs/sha256:ab":           {"", ""},
		"/v2/manifests/x":                 {"", ""},
	} {
		repo, ref, _ := manifestPath(p)
		if repo != want[0] || ref != want[1] {
			t.Errorf("manifestPath(%q) = %q %q, want %q", p, repo, ref, want)
		}
	}
}
