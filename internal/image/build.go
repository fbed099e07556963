package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// BuildOptions describe a single-layer image around one binary.
type BuildOptions struct {
	Binary     string   // host path of a static binary
	Path       string   // where it goes in the image; default "/<basename>"
	Entrypoint []string // default [Path]
	Cmd        []string
	Env        []string
	Ports      []string          // "8080" or "8080/tcp"
	Files      map[string][]byte // extra files (path in image -> content)
}

// Build packs the binary (mode 0755), /etc/passwd, /etc/group and /tmp
// into one layer with a config. Timestamps are fixed so the same inputs
// give the same digest.
func Build(o BuildOptions) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: reading binary: %v", hypercore.ErrInvalid, err)
	}
	p := o.Path
	if p == "" {
		p = "/" + filepath.Base(o.Binary)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := []string{"etc", "tmp", "proc", "sys", "dev"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	files := map[string][]byte{
		"etc/passwd": []byte("root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"),
		"etc/group":  []byte("root:x:0:\nnogroup:x:65534:\n"),
	}
	for k, v := range o.Files {
		files[strings.TrimPrefix(k, "/")] = v
	}
	add := func(name string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := add(name, 0o644, files[name]); err != nil {
			return nil, err
		}
	}
	if err := add(strings.TrimPrefix(p, "/"), 0o755, bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = o.Entrypoint
	if len(cf.Config.Entrypoint) == 0 {
		cf.Config.Entrypoint = []string{p}
	}
	cf.Config.Cmd = o.Cmd
	cf.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, o.Env...)
	if len(o.Ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, port := range o.Ports {
			if !strings.Contains(port, "/") {
				port += "/tcp"
			}
			cf.Config.ExposedPorts[port] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// WriteLayout stores img in the OCI layout at dir under tag (replacing an
// image with the same tag), creating the layout if needed.
func WriteLayout(img v1.Image, dir, tag string) error {
	if tag == "" {
		tag = "latest"
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	ann := map[string]string{"org.opencontainers.image.ref.name": tag}
	return p.ReplaceImage(img, match.Annotation("org.opencontainers.image.ref.name", tag), layout.WithAnnotations(ann))
}

// Push uploads img to a registry reference.
func Push(ctx context.Context, img v1.Image, ref string, insecureRegistries []string) error {
	var nopts []name.Option
	if insecure(ref, insecureRegistries) {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return fmt.Errorf("image reference %q: %w: %v", ref, hypercore.ErrInvalid, err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, classify(err))
	}
	return nil
}
