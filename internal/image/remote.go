package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// platform is what this node runs.
var platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}

// source is a resolved reference: the image, and whether its layers come
// over the network (and so are worth keeping in the blob cache).
type source struct {
	img    v1.Image
	remote bool
}

// resolve turns ref into an image without reading any layer.
func resolve(ctx context.Context, ref string, opts PullOptions) (source, error) {
	if dir, tag, ok := ParseLayoutRef(ref); ok {
		img, err := fromLayout(dir, tag)
		if err != nil {
			return source{}, fmt.Errorf("image %s: %w", ref, err)
		}
		return source{img: img}, nil
	}
	if path, ok := strings.CutPrefix(ref, PrefixArchive); ok {
		if _, err := os.Stat(path); err != nil {
			return source{}, fmt.Errorf("image %s: %w: %v", ref, hypercore.ErrNotFound, err)
		}
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			return source{}, fmt.Errorf("image %s: %w: %v", ref, hypercore.ErrInvalid, err)
		}
		return source{img: img}, nil
	}
	r, err := parseRemote(ref, opts.InsecureRegistries)
	if err != nil {
		return source{}, err
	}
	img, err := remote.Image(r, remoteOptions(ctx, opts.InsecureRegistries)...)
	if err != nil {
		return source{}, fmt.Errorf("pulling %s: %w", ref, classify(err))
	}
	return source{img: img, remote: true}, nil
}

func parseRemote(ref string, insecureRegistries []string) (name.Reference, error) {
	var nopts []name.Option
	if r, err := name.ParseReference(ref); err == nil && allowHTTP(r.Context().RegistryStr(), insecureRegistries) {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w: %v", ref, hypercore.ErrInvalid, err)
	}
	return r, nil
}

func remoteOptions(ctx context.Context, insecureRegistries []string) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(platform),
		remote.WithTransport(&httpGuard{base: remote.DefaultTransport, insecure: insecureRegistries}),
	}
}

// allowHTTP: loopback registries and the listed ones may speak plain http.
func allowHTTP(host string, list []string) bool {
	if slices.Contains(list, host) {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.Trim(host, "[]")
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// httpGuard refuses plain http to registries not allowed it.
// go-containerregistry on its own also falls back to http for RFC 1918
// addresses and *.local names, which would let anyone on the LAN path
// serve us an image by tag.
type httpGuard struct {
	base     http.RoundTripper
	insecure []string
}

func (g *httpGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !allowHTTP(req.URL.Host, g.insecure) {
		return nil, fmt.Errorf("refusing plain http to %s (not loopback, not an --insecure-registry)", req.URL.Host)
	}
	return g.base.RoundTrip(req)
}

// fromLayout picks the image tagged tag (the
// org.opencontainers.image.ref.name annotation) from the layout at dir; a
// layout holding a single untagged image also answers to "latest". An
// index entry is narrowed to this node's platform.
func fromLayout(dir, tag string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: not an OCI layout: %v", hypercore.ErrNotFound, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hypercore.ErrInvalid, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hypercore.ErrInvalid, err)
	}
	var match *v1.Descriptor
	for i, d := range im.Manifests {
		if d.Annotations[refNameAnnotation] == tag {
			match = &im.Manifests[i]
		}
	}
	if match == nil && tag == "latest" && len(im.Manifests) == 1 && im.Manifests[0].Annotations[refNameAnnotation] == "" {
		match = &im.Manifests[0]
	}
	if match == nil {
		return nil, fmt.Errorf("%w: no image tagged %q in the layout %s", hypercore.ErrNotFound, tag, dir)
	}
	if !match.MediaType.IsIndex() {
		return idx.Image(match.Digest)
	}
	child, err := idx.ImageIndex(match.Digest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hypercore.ErrInvalid, err)
	}
	cm, err := child.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hypercore.ErrInvalid, err)
	}
	for _, d := range cm.Manifests {
		if d.Platform != nil && d.Platform.Satisfies(platform) {
			return child.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("%w: no %s/%s image under tag %q", hypercore.ErrNotFound, platform.OS, platform.Architecture, tag)
}

// classify maps registry errors onto hypercore's classes.
func classify(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %v", hypercore.ErrNotFound, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %v", hypercore.ErrPermission, err)
		}
		return fmt.Errorf("%w: %v", hypercore.ErrUnavailable, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%w: %v", hypercore.ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %v", hypercore.ErrUnavailable, err)
}
