package image

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// IsLocal reports whether ref names a local source (oci-layout:,
// docker-archive:) rather than a registry.
func IsLocal(ref string) bool {
	return strings.HasPrefix(ref, PrefixLayout) || strings.HasPrefix(ref, PrefixArchive)
}

// LoadLocal opens the image a local reference names, without unpacking it.
func LoadLocal(ref string) (v1.Image, error) {
	if dir, tag, ok := ParseLayoutRef(ref); ok {
		p, err := layout.FromPath(dir)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", hypercore.ErrNotFound, ref, err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			return nil, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, desc := range m.Manifests {
			if t := desc.Annotations["org.opencontainers.image.ref.name"]; t == tag || (len(m.Manifests) == 1 && t == "") {
				return idx.Image(desc.Digest)
			}
		}
		return nil, fmt.Errorf("%w: no image tagged %q in %s", hypercore.ErrNotFound, tag, dir)
	}
	if file, ok := strings.CutPrefix(ref, PrefixArchive); ok {
		img, err := tarball.ImageFromPath(file, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", hypercore.ErrNotFound, ref, err)
		}
		return img, nil
	}
	return nil, fmt.Errorf("%w: %s is not a local image reference (oci-layout:DIR[:TAG] or docker-archive:FILE)", hypercore.ErrInvalid, ref)
}
