package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

// exists asserts which paths (relative to root) exist after unpacking.
func exists(t *testing.T, root string, want map[string]bool) {
	t.Helper()
	for p, w := range want {
		_, err := os.Lstat(filepath.Join(root, p))
		if (err == nil) != w {
			t.Errorf("%s exists=%v, want %v", p, err == nil, w)
		}
	}
}

func TestWhiteoutsAndOpaqueDirs(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	got, err := pullLayers(t, s, 0,
		[]entry{{name: "a/", typ: tar.TypeDir}, {name: "a/old", typ: tar.TypeReg, body: "x"}, {name: "a/sub/", typ: tar.TypeDir}, {name: "a/sub/deep", typ: tar.TypeReg},
			{name: "b/", typ: tar.TypeDir}, {name: "b/gone", typ: tar.TypeReg, body: "x"}, {name: "b/kept", typ: tar.TypeReg, body: "x"},
			{name: "c/", typ: tar.TypeDir}, {name: "c/f", typ: tar.TypeReg}, {name: "d", typ: tar.TypeReg, body: "file"}},
		[]entry{{name: "a/", typ: tar.TypeDir}, {name: "a/new/", typ: tar.TypeDir}, {name: "a/new/f", typ: tar.TypeReg, body: "y"}, {name: "a/.wh..wh..opq", typ: tar.TypeReg},
			{name: "b/.wh.gone", typ: tar.TypeReg}, {name: ".wh.c", typ: tar.TypeReg},
			{name: "d/", typ: tar.TypeDir}, {name: "d/now-a-dir", typ: tar.TypeReg}},
	)
	if err != nil {
		t.Fatal(err)
	}
	exists(t, got.RootFS, map[string]bool{
		"a/old": false, "a/sub": false, "a/new/f": true, "a/.wh..wh..opq": false,
		"b/gone": false, "b/kept": true, "b/.wh.gone": false, "c": false, ".wh.c": false, "d/now-a-dir": true,
	})
}

func TestUnpackInRootSymlinksAndLinks(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	got, err := pullLayers(t, s, 0,
		[]entry{{name: "usr/lib/", typ: tar.TypeDir}, {name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
			{name: "abs", typ: tar.TypeSymlink, link: "/usr"}, {name: "bin/su", typ: tar.TypeReg, body: "su", mode: 0o4755},
			{name: "tmp/", typ: tar.TypeDir, mode: 0o1777}, {name: "dangling", typ: tar.TypeSymlink, link: "/nowhere/at/all"}},
		[]entry{{name: "lib/libc.so", typ: tar.TypeReg, body: "elf"}, {name: "abs/share/doc", typ: tar.TypeReg, body: "doc"},
			{name: "bin/su2", typ: tar.TypeLink, link: "bin/su"}, {name: "lib", typ: tar.TypeSymlink, link: "usr/lib"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	r := got.RootFS
	exists(t, r, map[string]bool{"usr/lib/libc.so": true, "usr/share/doc": true, "lib": true, "dangling": true})
	if fi, err := os.Lstat(filepath.Join(r, "lib")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("lib is no longer a symlink: %v", err)
	}
	fi1, _ := os.Stat(filepath.Join(r, "bin/su"))
	fi2, err := os.Stat(filepath.Join(r, "bin/su2"))
	if err != nil || !os.SameFile(fi1, fi2) || fi1.Mode()&os.ModeSetuid == 0 {
		t.Errorf("hardlink/setuid: %v %v %v", fi1, fi2, err)
	}
	if fi, _ := os.Stat(filepath.Join(r, "tmp")); fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp mode = %v", fi.Mode())
	}
}

func TestHostileLayers(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 4096)
	cases := map[string]struct {
		layers [][]entry
		max    int64
		class  error
	}{
		"dotdot":            {[][]entry{{{name: "../evil", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"nested dotdot":     {[][]entry{{{name: "a/../../evil", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"absolute path":     {[][]entry{{{name: "/etc/evil", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"symlink escape":    {[][]entry{{{name: "x", typ: tar.TypeSymlink, link: "../../../../../.."}, {name: "x/tmp/pwned", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"symlink 2 layers":  {[][]entry{{{name: "d/", typ: tar.TypeDir}, {name: "d/x", typ: tar.TypeSymlink, link: "../.."}}, {{name: "d/x/pwned", typ: tar.TypeReg, body: "x"}}}, 0, hypercore.ErrInvalid},
		"symlink chain":     {[][]entry{{{name: "a", typ: tar.TypeSymlink, link: "b/.."}, {name: "b", typ: tar.TypeSymlink, link: "/.."}, {name: "a/pwned", typ: tar.TypeReg}}}, 0, hypercore.ErrInvalid},
		"symlink loop":      {[][]entry{{{name: "a", typ: tar.TypeSymlink, link: "b"}, {name: "b", typ: tar.TypeSymlink, link: "a"}, {name: "a/f", typ: tar.TypeReg}}}, 0, hypercore.ErrInvalid},
		"hardlink dotdot":   {[][]entry{{{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}}}, 0, hypercore.ErrInvalid},
		"hardlink absolute": {[][]entry{{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}}, 0, hypercore.ErrInvalid},
		"hardlink via link": {[][]entry{{{name: "s", typ: tar.TypeSymlink, link: "../../../../../../etc"}, {name: "h", typ: tar.TypeLink, link: "s/passwd"}}}, 0, hypercore.ErrInvalid},
		"hardlink to dir":   {[][]entry{{{name: "d/", typ: tar.TypeDir}, {name: "h", typ: tar.TypeLink, link: "d"}}}, 0, hypercore.ErrInvalid},
		"block device":      {[][]entry{{{name: "dev/sda", typ: tar.TypeBlock}}}, 0, hypercore.ErrInvalid},
		"char device":       {[][]entry{{{name: "dev/mem", typ: tar.TypeChar}}}, 0, hypercore.ErrInvalid},
		"fifo":              {[][]entry{{{name: "f", typ: tar.TypeFifo}}}, 0, hypercore.ErrInvalid},
		"whiteout dotdot":   {[][]entry{{{name: ".wh...", typ: tar.TypeReg}}}, 0, hypercore.ErrInvalid},
		"file as parent":    {[][]entry{{{name: "f", typ: tar.TypeReg}, {name: "f/g", typ: tar.TypeReg}}}, 0, hypercore.ErrInvalid},
		"layer over disk":   {[][]entry{{{name: "big", typ: tar.TypeReg, body: big}}}, 1000, hypercore.ErrResources},
		"two layers over":   {[][]entry{{{name: "a", typ: tar.TypeReg, body: big}}, {{name: "b", typ: tar.TypeReg, body: big}}}, 6000, hypercore.ErrResources},
		"not a tar at all":  {nil, 0, hypercore.ErrInvalid},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, dir := openStore(t)
			var err error
			if tc.layers == nil {
				_, err = s.Pull(t.Context(), garbageLayout(t), PullOptions{})
			} else {
				_, err = pullLayers(t, s, tc.max, tc.layers...)
			}
			if !errors.Is(err, tc.class) {
				t.Fatalf("err = %v, want %v", err, tc.class)
			}
			assertClean(t, dir)
			for _, p := range []string{"/tmp/pwned", "/pwned", filepath.Join(filepath.Dir(dir), "pwned")} {
				if _, err := os.Lstat(p); err == nil {
					t.Fatalf("a layer wrote %s outside its root", p)
				}
			}
		})
	}
}

// garbageLayout is an image whose one layer is not a tar stream.
func garbageLayout(t *testing.T) string {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(strings.Repeat("not a tar header ", 64))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return imagetest.Layout(t, imageOf(t, l), "latest")
}
