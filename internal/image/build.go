package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// refNameAnnotation tags an image inside an OCI layout.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// BuildOptions describe a single-layer image around one binary.
type BuildOptions struct {
	Binary     string            // host path of a static binary
	Path       string            // where it goes in the image; default "/<basename>"
	Entrypoint []string          // default [Path]
	Cmd        []string          // default arguments
	Env        []string          // KEY=VALUE, after PATH
	Ports      []string          // "8080", "8080/tcp" or "53/udp"
	Files      map[string][]byte // extra files (absolute path in image -> content, mode 0644)
}

// Build packs the binary (mode 0755), a minimal /etc/passwd and
// /etc/group, and empty /tmp, /proc, /sys, /dev into one layer of an OCI
// image for this node's platform. Timestamps are fixed, so the same
// inputs give the same digest.
func Build(o BuildOptions) (v1.Image, error) {
	p := o.Path
	if p == "" {
		p = "/" + filepath.Base(o.Binary)
	}
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return nil, fmt.Errorf("building image: %w: binary path %q must be absolute and clean", hypercore.ErrInvalid, p)
	}
	ports, err := exposedPorts(o.Ports)
	if err != nil {
		return nil, err
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("building image: %w: env %q: want KEY=VALUE", hypercore.ErrInvalid, kv)
		}
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("building image: %w: reading binary: %v", hypercore.ErrInvalid, err)
	}
	files := map[string][]byte{
		"etc/passwd": []byte("root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"),
		"etc/group":  []byte("root:x:0:\nnogroup:x:65534:\n"),
	}
	for k, v := range o.Files {
		if !path.IsAbs(k) || path.Clean(k) != k || k == "/" {
			return nil, fmt.Errorf("building image: %w: file path %q must be absolute and clean", hypercore.ErrInvalid, k)
		}
		files[k[1:]] = v
	}
	data, err := layerTar(p[1:], bin, files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithCompressedCaching, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = platform.Architecture, platform.OS
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint = o.Entrypoint
	if len(cf.Config.Entrypoint) == 0 {
		cf.Config.Entrypoint = []string{p}
	}
	cf.Config.Cmd = o.Cmd
	cf.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, o.Env...)
	cf.Config.ExposedPorts = ports
	return mutate.ConfigFile(img, cf)
}

// layerTar writes the one layer: directories, files sorted by name, then
// the binary.
func layerTar(binPath string, bin []byte, files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"dev", "etc", "proc", "sys", "tmp"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
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
	if err := add(binPath, 0o755, bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// exposedPorts parses "8080", "8080/tcp", "53/udp".
func exposedPorts(ports []string) (map[string]struct{}, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	out := map[string]struct{}{}
	for _, port := range ports {
		num, proto, ok := strings.Cut(port, "/")
		if !ok {
			proto = "tcp"
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp") {
			return nil, fmt.Errorf("building image: %w: port %q: want PORT[/tcp|udp]", hypercore.ErrInvalid, port)
		}
		out[fmt.Sprintf("%d/%s", n, proto)] = struct{}{}
	}
	return out, nil
}

// Push uploads img to a registry reference (plain http under the same
// rules as Pull).
func Push(ctx context.Context, img v1.Image, ref string, insecureRegistries []string) error {
	_, err := PushRef(ctx, img, ref, PushOptions{InsecureRegistries: insecureRegistries})
	return err
}
