package image

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnpack feeds arbitrary tar streams (two layers' worth: the input is
// applied twice) to the unpacker: it may fail, but nothing outside its
// root may change. The root sits two levels below a sentinel directory
// so that escapes by one or two ".." would be seen.
func FuzzUnpack(f *testing.F) {
	seeds := [][]entry{
		{{name: "a/b", typ: tar.TypeReg, body: "x"}, {name: "l", typ: tar.TypeSymlink, link: "../.."}, {name: "l/x", typ: tar.TypeReg}},
		{{name: "d/", typ: tar.TypeDir}, {name: "d/.wh..wh..opq", typ: tar.TypeReg}, {name: ".wh.d", typ: tar.TypeReg}},
		{{name: "s", typ: tar.TypeSymlink, link: "/"}, {name: "s/etc/x", typ: tar.TypeReg}, {name: "h", typ: tar.TypeLink, link: "s/etc/x"}},
		{{name: "u", typ: tar.TypeSymlink, link: ".."}, {name: "u/sentinel", typ: tar.TypeReg, body: "gotcha"}, {name: ".wh...", typ: tar.TypeReg}},
	}
	for _, s := range seeds {
		f.Add(tarOf(f, s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		top := t.TempDir()
		root := filepath.Join(top, "mid", "root")
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		sentinels := []string{filepath.Join(top, "sentinel"), filepath.Join(top, "mid", "sentinel")}
		for _, p := range sentinels {
			os.WriteFile(p, []byte("keep"), 0o644)
		}
		u := &unpacker{root: root, max: 1 << 20}
		if u.apply(bytes.NewReader(data)) == nil {
			_ = u.apply(bytes.NewReader(data))
		}
		for _, dir := range []string{top, filepath.Join(top, "mid")} {
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) != 2 {
				t.Fatalf("%s changed: %v %v", dir, ents, err)
			}
		}
		for _, p := range sentinels {
			if b, err := os.ReadFile(p); err != nil || string(b) != "keep" {
				t.Fatalf("%s changed: %q %v", p, b, err)
			}
		}
		if fi, err := os.Lstat(root); err != nil || !fi.IsDir() {
			t.Fatalf("root replaced: %v %v", fi, err)
		}
	})
}
