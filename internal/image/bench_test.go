package image

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

// BenchmarkPullCached measures Pull of an image already in the store: by
// registry digest (no network), and by OCI layout tag (reads the layout's
// index and manifest to learn the digest).
func BenchmarkPullCached(b *testing.B) {
	ctx := context.Background()
	img := twImage(b)
	pinned := imagetest.Push(b, imagetest.Registry(b)+"/tw:v1", img)
	layoutRef := imagetest.Layout(b, img, "latest")
	s, _ := openStore(b)
	for _, ref := range []string{pinned, layoutRef} {
		if _, err := s.Pull(ctx, ref, PullOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for name, ref := range map[string]string{"registry-digest": pinned, "oci-layout-tag": layoutRef} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Pull(ctx, ref, PullOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnpack measures the unpacker alone on the uncompressed layer
// of the tw image (one static binary and a few small files).
func BenchmarkUnpack(b *testing.B) {
	l, err := twImage(b).Layers()
	if err != nil {
		b.Fatal(err)
	}
	rc, err := l[0].Uncompressed()
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	if err != nil {
		b.Fatal(err)
	}
	parent := b.TempDir()
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		i++
		root := filepath.Join(parent, "r", string(rune('a'+i%26)))
		os.RemoveAll(root)
		os.MkdirAll(root, 0o755)
		u := &unpacker{root: root}
		if err := u.apply(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
