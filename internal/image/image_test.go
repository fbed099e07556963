package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

func twImage(t *testing.T) v1.Image {
	t.Helper()
	bin := imagetest.GoBinary(t, "./internal/hypercore/hypercoretest/tw")
	img, err := Build(BuildOptions{Binary: bin, Path: "/bin/tw", Cmd: []string{"sleep"}, Env: []string{"A=1"}, Ports: []string{"8080"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) string {
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestPullRegistryTagDigestAndCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host := imagetest.Registry(t)
	img := twImage(t)
	ref := host + "/tw:v1"
	if err := Push(ctx, img, ref, nil); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	unpacks := 0
	opts := PullOptions{Progress: func(Progress) { unpacks++ }}
	got, err := s.Pull(ctx, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digestOf(t, img) || unpacks != 1 {
		t.Fatalf("pulled %s (unpacks %d), want %s", got.Digest, unpacks, digestOf(t, img))
	}
	if fi, err := os.Stat(filepath.Join(got.RootFS, "bin/tw")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/tw in rootfs: %v %v", fi, err)
	}
	want := Config{Entrypoint: []string{"/bin/tw"}, Cmd: []string{"sleep"}, Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "A=1"}, ExposedPorts: []string{"8080/tcp"}}
	if !reflect.DeepEqual(got.Config, want) {
		t.Errorf("config = %+v, want %+v", got.Config, want)
	}
	// Same image by digest: a cache hit, no unpack.
	again, err := s.Pull(ctx, host+"/tw@"+got.Digest, opts)
	if err != nil || again.RootFS != got.RootFS || unpacks != 1 {
		t.Fatalf("digest pull: %v, rootfs %s vs %s, unpacks %d", err, again.RootFS, got.RootFS, unpacks)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if err := s.Remove(got.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(got.Digest); !errors.Is(err, hypercore.ErrNotFound) {
		t.Fatalf("Get after Remove: %v", err)
	}
	if _, err := s.Pull(ctx, host+"/tw:nope", opts); !errors.Is(err, hypercore.ErrNotFound) {
		t.Fatalf("missing tag: err = %v, want ErrNotFound", err)
	}
}

func TestPullLayoutAndArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	img := twImage(t)
	dir := t.TempDir()
	if err := WriteLayout(img, filepath.Join(dir, "layout"), "v2"); err != nil {
		t.Fatal(err)
	}
	s, _ := Open(filepath.Join(dir, "store"))
	got, err := s.Pull(ctx, PrefixLayout+filepath.Join(dir, "layout")+":v2", PullOptions{})
	if err != nil || got.Digest != digestOf(t, img) {
		t.Fatalf("layout pull = %v, %v", got, err)
	}
	if _, err := s.Pull(ctx, PrefixLayout+filepath.Join(dir, "layout")+":other", PullOptions{}); !errors.Is(err, hypercore.ErrNotFound) {
		t.Fatalf("missing layout tag: %v", err)
	}
	if _, err := s.Pull(ctx, PrefixLayout+filepath.Join(dir, "nothing"), PullOptions{}); !errors.Is(err, hypercore.ErrNotFound) {
		t.Fatalf("missing layout: %v", err)
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
}

type entry struct {
	name, link string
	typ        byte
	body       string
}

func layerOf(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func imageOf(t *testing.T, layers ...v1.Layer) v1.Image {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func pullImage(t *testing.T, s *Store, img v1.Image, max int64) (*Image, error) {
	dir := t.TempDir()
	if err := WriteLayout(img, dir, "latest"); err != nil {
		t.Fatal(err)
	}
	return s.Pull(context.Background(), PrefixLayout+dir, PullOptions{MaxSize: max})
}

func TestWhiteouts(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	img := imageOf(t,
		layerOf(t, entry{name: "a/", typ: tar.TypeDir}, entry{name: "a/old", typ: tar.TypeReg, body: "x"},
			entry{name: "b/", typ: tar.TypeDir}, entry{name: "b/gone", typ: tar.TypeReg, body: "x"}, entry{name: "b/kept", typ: tar.TypeReg, body: "x"}),
		layerOf(t, entry{name: "a/new", typ: tar.TypeReg, body: "y"}, entry{name: "a/.wh..wh..opq", typ: tar.TypeReg},
			entry{name: "b/.wh.gone", typ: tar.TypeReg}),
	)
	got, err := pullImage(t, s, img, 0)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"a/old": false, "a/new": true, "b/gone": false, "b/kept": true, "a/.wh..wh..opq": false, "b/.wh.gone": false} {
		_, err := os.Lstat(filepath.Join(got.RootFS, p))
		if (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", p, err == nil, want)
		}
	}
}

func TestHostileLayers(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		layers [][]entry
		max    int64
		class  error
	}{
		"dotdot":           {[][]entry{{{name: "../evil", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"nested dotdot":    {[][]entry{{{name: "a/../../evil", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"symlink write":    {[][]entry{{{name: "etc", typ: tar.TypeSymlink, link: "/"}, {name: "etc/pwned", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"symlink 2 layers": {[][]entry{{{name: "x", typ: tar.TypeSymlink, link: "../../.."}}, {{name: "x/pwned", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"hardlink escape":  {[][]entry{{{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}}}, 0, hypercore.ErrInvalid},
		"hardlink outside": {[][]entry{{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}}, 0, hypercore.ErrInvalid},
		"device":           {[][]entry{{{name: "dev/sda", typ: tar.TypeBlock}}}, 0, hypercore.ErrInvalid},
		"fifo":             {[][]entry{{{name: "f", typ: tar.TypeFifo}}}, 0, hypercore.ErrInvalid},
		"too big":          {[][]entry{{{name: "big", typ: tar.TypeReg, body: string(make([]byte, 4096))}}}, 1000, hypercore.ErrResources},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, _ := Open(dir)
			var layers []v1.Layer
			for _, es := range tc.layers {
				layers = append(layers, layerOf(t, es...))
			}
			_, err := pullImage(t, s, imageOf(t, layers...), tc.max)
			if !errors.Is(err, tc.class) {
				t.Fatalf("err = %v, want %v", err, tc.class)
			}
			ents, _ := os.ReadDir(filepath.Join(dir, "rootfs"))
			if len(ents) != 0 {
				t.Errorf("left behind in the store: %v", ents)
			}
			if _, err := os.Stat("/pwned"); err == nil {
				t.Fatal("a layer wrote /pwned on the host")
			}
		})
	}
}

func TestConfigProcess(t *testing.T) {
	base := Config{Entrypoint: []string{"/app"}, Cmd: []string{"serve"}, Env: []string{"A=1", "B=2"}, WorkingDir: "/srv", User: "1000"}
	cases := []struct {
		name string
		o    Override
		want hypercore.Process
		err  bool
	}{
		{"image as is", Override{}, hypercore.Process{Args: []string{"/app", "serve"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv", User: "1000"}, false},
		{"args replace cmd", Override{Args: []string{"run", "-v"}}, hypercore.Process{Args: []string{"/app", "run", "-v"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv", User: "1000"}, false},
		{"command clears cmd", Override{Command: []string{"/bin/sh"}}, hypercore.Process{Args: []string{"/bin/sh"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv", User: "1000"}, false},
		{"command and args", Override{Command: []string{"/x"}, Args: []string{"y"}}, hypercore.Process{Args: []string{"/x", "y"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv", User: "1000"}, false},
		{"env merge", Override{Env: []string{"B=3", "C=4"}, Workdir: "/w", User: "0:0"}, hypercore.Process{Args: []string{"/app", "serve"}, Env: []string{"A=1", "B=3", "C=4"}, Cwd: "/w", User: "0:0"}, false},
		{"named user", Override{User: "www"}, hypercore.Process{}, true},
	}
	for _, tc := range cases {
		got, err := base.Process(tc.o)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s: got %+v, %v; want %+v (err %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
	if _, err := (Config{}).Process(Override{}); !errors.Is(err, hypercore.ErrInvalid) {
		t.Errorf("empty config: %v, want ErrInvalid", err)
	}
}
