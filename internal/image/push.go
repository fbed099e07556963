package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// PushOptions tune PushRef.
type PushOptions struct {
	// InsecureRegistries (host[:port]) may be reached over plain http, as
	// in PullOptions.
	InsecureRegistries []string
	// Progress, when set, is called as bytes go out (every few MiB) and
	// once at the end with done == total.
	Progress func(done, total int64)
}

// Source returns the image src names without unpacking it: an
// "oci-layout:DIR[:TAG]" or "docker-archive:FILE" reference, or an image
// in the store named by digest or by a reference it was pulled by. A
// cached image is read from the store when its manifest, config and
// layer blobs are all there (images pulled from a registry); otherwise
// from the reference it was first pulled by, which must still resolve to
// the same digest.
func (s *Store) Source(ctx context.Context, src string, insecureRegistries []string) (v1.Image, error) {
	if strings.HasPrefix(src, PrefixLayout) || strings.HasPrefix(src, PrefixArchive) {
		r, err := resolve(ctx, src, PullOptions{InsecureRegistries: insecureRegistries})
		if err != nil {
			return nil, err
		}
		return r.img, nil
	}
	rec, err := s.Get(src)
	if err != nil {
		if rec, err = s.Lookup(src); err != nil {
			return nil, err
		}
	}
	if img, err := s.cached(rec); err == nil {
		return img, nil
	}
	r, err := resolve(ctx, rec.Ref, PullOptions{InsecureRegistries: insecureRegistries})
	if err != nil {
		return nil, fmt.Errorf("image %s: not all of it is cached and its origin failed: %w", rec.Digest, err)
	}
	d, err := r.img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", rec.Ref, sourceErr(r, err))
	}
	if d.String() != rec.Digest {
		return nil, fmt.Errorf("image %s: %w: not all of it is cached and %s now resolves to %s", rec.Digest, hypercore.ErrNotFound, rec.Ref, d)
	}
	return r.img, nil
}

// PushRef uploads img to the registry reference ref (a tag or a bare
// repository, which gets "latest") and returns the digest reference it
// can be pulled by, "host/repo@sha256:…".
func PushRef(ctx context.Context, img v1.Image, ref string, o PushOptions) (string, error) {
	r, err := parseRemote(ref, o.InsecureRegistries)
	if err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w: %v", ref, hypercore.ErrInvalid, err)
	}
	opts := remoteOptions(ctx, o.InsecureRegistries)
	var done chan struct{}
	if o.Progress != nil {
		ch := make(chan v1.Update, 16)
		done = make(chan struct{})
		opts = append(opts, remote.WithProgress(ch))
		go func() {
			defer close(done)
			var last int64 = -progressEvery
			var u v1.Update
			for u = range ch {
				if u.Complete-last >= progressEvery {
					last = u.Complete
					o.Progress(u.Complete, u.Total)
				}
			}
			if u.Error == nil && u.Total > 0 && last != u.Complete {
				o.Progress(u.Complete, u.Total)
			}
		}()
	}
	err = remote.Write(r, img, opts...)
	if done != nil {
		<-done // remote.Write closes the channel
	}
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, classify(err))
	}
	return r.Context().Digest(d.String()).String(), nil
}

// Files kept next to an image's record so the store can hand the image
// back out (push) byte for byte.
func (s *Store) manifestPath(hex string) string {
	return filepath.Join(s.dir, "images", hex+".manifest")
}
func (s *Store) configPath(hex string) string { return filepath.Join(s.dir, "images", hex+".config") }

// saveRaw keeps the image's manifest and config. Callers hold the lock.
func (s *Store) saveRaw(hex string, img v1.Image) error {
	m, err := img.RawManifest()
	if err != nil {
		return err
	}
	c, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := writeAtomic(s.manifestPath(hex), m); err != nil {
		return err
	}
	return writeAtomic(s.configPath(hex), c)
}

// dropRaw removes what saveRaw wrote. Callers hold the lock.
func (s *Store) dropRaw(hex string) error {
	for _, p := range []string{s.manifestPath(hex), s.configPath(hex)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// cached rebuilds rec from the store alone.
func (s *Store) cached(rec *Image) (v1.Image, error) {
	hex, err := hexOf(rec.Digest)
	if err != nil {
		return nil, err
	}
	m, err := os.ReadFile(s.manifestPath(hex))
	if err != nil {
		return nil, err
	}
	c, err := os.ReadFile(s.configPath(hex))
	if err != nil {
		return nil, err
	}
	mf, err := v1.ParseManifest(bytes.NewReader(m))
	if err != nil {
		return nil, fmt.Errorf("%w: cached manifest: %v", hypercore.ErrInvalid, err)
	}
	for _, l := range mf.Layers {
		if _, err := os.Stat(s.blobPath(l.Digest.Hex)); err != nil {
			return nil, err
		}
	}
	mt := mf.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	img, err := partial.CompressedToImage(&cachedCore{s: s, manifest: m, config: c, mt: mt, layers: mf.Layers})
	if err != nil {
		return nil, err
	}
	if d, err := img.Digest(); err != nil || d.String() != rec.Digest {
		return nil, fmt.Errorf("%w: cached manifest of %s does not match its digest", hypercore.ErrInvalid, rec.Digest)
	}
	return img, nil
}

func (s *Store) blobPath(hex string) string { return filepath.Join(s.dir, "blobs", "sha256", hex) }

// cachedCore is a cached image as go-containerregistry's
// partial.CompressedImageCore.
type cachedCore struct {
	s                *Store
	manifest, config []byte
	mt               types.MediaType
	layers           []v1.Descriptor
}

func (c *cachedCore) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c *cachedCore) MediaType() (types.MediaType, error) { return c.mt, nil }
func (c *cachedCore) RawManifest() ([]byte, error)        { return c.manifest, nil }

func (c *cachedCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range c.layers {
		if d.Digest == h {
			return &cachedLayer{path: c.s.blobPath(h.Hex), desc: d}, nil
		}
	}
	return nil, fmt.Errorf("%w: layer %s is not part of the image", hypercore.ErrNotFound, h)
}

// cachedLayer is one compressed blob of the store.
type cachedLayer struct {
	path string
	desc v1.Descriptor
}

func (l *cachedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *cachedLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
func (l *cachedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *cachedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
