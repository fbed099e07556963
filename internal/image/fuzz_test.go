package image

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnpack feeds arbitrary tar streams to the unpacker: it may fail, but
// nothing may appear next to the root.
func FuzzUnpack(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	tw.Write([]byte("x"))
	tw.WriteHeader(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../.."})
	tw.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		u := &unpacker{root: root, max: 1 << 20}
		_ = u.apply(bytes.NewReader(data))
		ents, _ := os.ReadDir(parent)
		if len(ents) != 1 || ents[0].Name() != "root" {
			t.Fatalf("unpack escaped its root: %v", ents)
		}
	})
}
