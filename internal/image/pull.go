package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Reference prefixes for local sources.
const (
	PrefixLayout  = "oci-layout:"
	PrefixArchive = "docker-archive:"
)

// PullOptions tune Pull.
type PullOptions struct {
	// MaxSize bounds the unpacked size (the machine's disk); 0 = no bound.
	MaxSize int64
	// InsecureRegistries may be reached over plain http. Loopback
	// registries always may.
	InsecureRegistries []string
	// Progress, when set, is called as layers unpack.
	Progress func(Progress)
}

// Progress reports unpacking of one layer.
type Progress struct {
	Layer  int   `json:"layer"`  // 1-based
	Layers int   `json:"layers"` // total
	Bytes  int64 `json:"bytes"`  // unpacked so far, all layers
}

// Pull resolves ref, and unpacks it unless its digest is cached already.
// ref is a registry reference (tag or @sha256: digest),
// "oci-layout:DIR[:TAG]" or "docker-archive:FILE".
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*Image, error) {
	// A digest reference that is cached needs no network at all.
	if _, dg, ok := strings.Cut(ref, "@"); ok && !strings.HasPrefix(ref, PrefixLayout) && !strings.HasPrefix(ref, PrefixArchive) {
		if img, err := s.Get(dg); err == nil {
			return img, nil
		}
	}
	img, err := resolve(ctx, ref, opts)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, classify(err))
	}
	if cached, err := s.Get(d.String()); err == nil {
		return cached, nil
	}
	return s.unpackImage(ctx, ref, d.String(), img, opts)
}

func (s *Store) unpackImage(ctx context.Context, ref, digest string, img v1.Image, opts PullOptions) (*Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", ref, classify(err))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image %s: layers: %w", ref, classify(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cached, err := s.Get(digest); err == nil { // unpacked meanwhile
		return cached, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "rootfs"), ".tmp-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	u := &unpacker{root: tmp, max: opts.MaxSize}
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
		rc, err := l.Uncompressed()
		if err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("image %s: layer %d: %w", ref, i+1, classify(err))
		}
		err = u.apply(rc)
		rc.Close()
		if err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("image %s: layer %d: %w", ref, i+1, err)
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Layer: i + 1, Layers: len(layers), Bytes: u.size})
		}
	}
	final := s.rootfsDir(digest)
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	out := &Image{Ref: ref, Digest: digest, RootFS: final, Size: u.size, PulledAt: time.Now().UTC(), Config: configOf(cf)}
	if err := s.saveRecord(out); err != nil {
		os.RemoveAll(final)
		return nil, err
	}
	return out, nil
}

func configOf(cf *v1.ConfigFile) Config {
	c := cf.Config
	out := Config{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User}
	for p := range c.ExposedPorts {
		out.ExposedPorts = append(out.ExposedPorts, p)
	}
	slices.Sort(out.ExposedPorts)
	return out
}

// resolve turns ref into a v1.Image without unpacking anything.
func resolve(ctx context.Context, ref string, opts PullOptions) (v1.Image, error) {
	switch {
	case strings.HasPrefix(ref, PrefixLayout):
		return fromLayout(strings.TrimPrefix(ref, PrefixLayout))
	case strings.HasPrefix(ref, PrefixArchive):
		path := strings.TrimPrefix(ref, PrefixArchive)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("image %s: %w: %v", ref, hypercore.ErrNotFound, err)
		}
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w: %v", ref, hypercore.ErrInvalid, err)
		}
		return img, nil
	}
	var nopts []name.Option
	if insecure(ref, opts.InsecureRegistries) {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w: %v", ref, hypercore.ErrInvalid, err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, classify(err))
	}
	return img, nil
}

// insecure: loopback registries and the listed ones speak plain http.
func insecure(ref string, list []string) bool {
	host, _, _ := strings.Cut(ref, "/")
	if slices.Contains(list, host) {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// fromLayout reads DIR[:TAG] (TAG defaults to latest, matched against the
// org.opencontainers.image.ref.name annotation; a layout holding a single
// image needs no tag).
func fromLayout(spec string) (v1.Image, error) {
	dir, tag := spec, ""
	if i := strings.LastIndexByte(spec, ':'); i >= 0 && !strings.Contains(spec[i+1:], "/") {
		dir, tag = spec[:i], spec[i+1:]
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("image %s%s: %w: not an OCI layout: %v", PrefixLayout, spec, hypercore.ErrNotFound, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("image %s%s: %w", PrefixLayout, spec, hypercore.ErrInvalid)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image %s%s: %w: %v", PrefixLayout, spec, hypercore.ErrInvalid, err)
	}
	want := tag
	if want == "" {
		want = "latest"
	}
	var match *v1.Descriptor
	for i, d := range im.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == want {
			match = &im.Manifests[i]
		}
	}
	if match == nil && tag == "" && len(im.Manifests) == 1 {
		match = &im.Manifests[0]
	}
	if match == nil {
		return nil, fmt.Errorf("image %s%s: %w: no image tagged %q in the layout", PrefixLayout, spec, hypercore.ErrNotFound, want)
	}
	return idx.Image(match.Digest)
}

// classify maps registry errors onto hypercore's classes.
func classify(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case 404:
			return fmt.Errorf("%w: %v", hypercore.ErrNotFound, err)
		case 401, 403:
			return fmt.Errorf("%w: %v", hypercore.ErrPermission, err)
		}
		return fmt.Errorf("%w: %v", hypercore.ErrUnavailable, err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%w: %v", hypercore.ErrUnavailable, err)
	}
	return err
}
