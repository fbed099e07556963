package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// PullOptions tune Pull.
type PullOptions struct {
	// MaxSize bounds the unpacked size in bytes (the machine's disk);
	// 0 = no bound. Exceeding it fails with hypercore.ErrResources.
	MaxSize int64
	// InsecureRegistries (host[:port]) may be reached over plain http.
	// Loopback registries always may; no other registry ever does.
	InsecureRegistries []string
	// Progress, when set, is called from Pull's goroutine as layers
	// download and unpack: every few MiB and once with Done per phase.
	Progress func(Progress)
}

// Phases of a layer in Progress.
const (
	PhaseDownload = "download" // compressed bytes fetched from a registry
	PhaseUnpack   = "unpack"   // file bytes written into the rootfs
)

// Progress reports work on one layer.
type Progress struct {
	Layer  int    `json:"layer"`  // 1-based
	Layers int    `json:"layers"` // total
	Digest string `json:"digest"` // the layer's (compressed) digest
	Phase  string `json:"phase"`
	Bytes  int64  `json:"bytes"` // this layer, this phase, so far
	Total  int64  `json:"total"` // expected Bytes when known (downloads), else 0
	Done   bool   `json:"done"`
}

// Pull resolves ref and unpacks the image unless its digest is cached.
// ref is a registry reference (by tag, or by @sha256: digest: a cached
// digest needs no network at all), "oci-layout:DIR[:TAG]" or
// "docker-archive:FILE". A tag is always resolved again (it may have
// moved); its layers are fetched only if that digest is not cached.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*Image, error) {
	img, err := s.pull(ctx, ref, opts)
	if err != nil {
		return nil, err
	}
	// A cached image may have been unpacked for a machine with more disk.
	if opts.MaxSize > 0 && img.Size > opts.MaxSize {
		return nil, fmt.Errorf("image %s: %w: unpacks to %d bytes, more than the %d-byte disk limit", ref, hypercore.ErrResources, img.Size, opts.MaxSize)
	}
	return img, nil
}

func (s *Store) pull(ctx context.Context, ref string, opts PullOptions) (*Image, error) {
	if img := s.cachedDigestRef(ref); img != nil {
		return img, s.noteRef(ref, img.Digest)
	}
	src, err := resolve(ctx, ref, opts)
	if err != nil {
		return nil, err
	}
	d, err := src.img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, sourceErr(src, err))
	}
	hex, err := hexOf(d.String())
	if err != nil {
		return nil, err
	}
	if img, err := s.Get(d.String()); err == nil {
		return img, s.noteRef(ref, img.Digest)
	}
	unlock := s.digestLock(hex)
	defer unlock()
	if img, err := s.Get(d.String()); err == nil { // another caller unpacked it meanwhile
		return img, s.noteRef(ref, img.Digest)
	}
	img, err := s.unpackImage(ctx, ref, hex, src, opts)
	if err != nil {
		return nil, err
	}
	return img, s.noteRef(ref, img.Digest)
}

// cachedDigestRef answers "host/repo@sha256:..." from the cache.
func (s *Store) cachedDigestRef(ref string) *Image {
	if strings.HasPrefix(ref, PrefixLayout) || strings.HasPrefix(ref, PrefixArchive) {
		return nil
	}
	_, dg, ok := strings.Cut(ref, "@")
	if !ok {
		return nil
	}
	img, err := s.Get(dg)
	if err != nil {
		return nil
	}
	return img
}

// noteRef records ref -> digest unless refs.json says so already.
func (s *Store) noteRef(ref, digest string) error {
	if key, err := canonicalRef(ref); err == nil {
		if refs, err := s.readRefs(); err == nil && refs[key].Digest == digest {
			return nil
		}
	}
	return s.recordRef(ref, digest)
}

func sourceErr(src source, err error) error {
	if src.remote {
		return classify(err)
	}
	return fmt.Errorf("%w: %v", hypercore.ErrInvalid, err)
}

// unpackImage flattens src into tmp/ and commits it as rootfs/<hex>.
func (s *Store) unpackImage(ctx context.Context, ref, hex string, src source, opts PullOptions) (*Image, error) {
	cf, err := src.img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", ref, sourceErr(src, err))
	}
	if (cf.OS != "" && cf.OS != platform.OS) || (cf.Architecture != "" && cf.Architecture != platform.Architecture) {
		return nil, fmt.Errorf("image %s: %w: built for %s/%s, this node runs %s/%s", ref, hypercore.ErrInvalid, cf.OS, cf.Architecture, platform.OS, platform.Architecture)
	}
	layers, err := src.img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image %s: layers: %w", ref, sourceErr(src, err))
	}
	tmp, err := s.tempName("unpack")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, err
	}
	u := &unpacker{root: tmp, max: opts.MaxSize}
	var digests []string
	for i, l := range layers {
		lr := layerRun{store: s, layer: l, src: src, index: i + 1, count: len(layers), progress: opts.Progress}
		ld, err := lr.apply(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("image %s: layer %d/%d: %w", ref, i+1, len(layers), err)
		}
		if src.remote {
			digests = append(digests, ld)
		}
	}
	img := &Image{Ref: ref, Digest: "sha256:" + hex, RootFS: s.rootfsDir(hex), Size: u.size, Layers: digests,
		PulledAt: time.Now().UTC(), Config: configOf(cf)}
	err = s.locked(func() error {
		if err := s.saveRecord(img); err != nil {
			return err
		}
		if err := s.saveRaw(hex, src.img); err != nil {
			return err
		}
		return os.Rename(tmp, img.RootFS)
	})
	if err != nil {
		if got, gerr := s.Get(img.Digest); gerr == nil { // another process committed first
			return got, nil
		}
		return nil, fmt.Errorf("image %s: committing rootfs: %w", ref, err)
	}
	return img, nil
}

func (s *Store) saveRecord(img *Image) error {
	hex, err := hexOf(img.Digest)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.recordPath(hex), b)
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
