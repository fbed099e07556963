package image

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
)

// WriteLayout stores img in the OCI layout at dir under tag (replacing an
// image with the same tag, keeping others, and pruning blobs no image in
// the layout uses any more), creating the layout if needed.
func WriteLayout(img v1.Image, dir, tag string) error {
	if tag == "" {
		tag = "latest"
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("writing OCI layout %s: %w", dir, err)
		}
	}
	ann := map[string]string{refNameAnnotation: tag}
	if err := p.ReplaceImage(img, match.Annotation(refNameAnnotation, tag), layout.WithAnnotations(ann)); err != nil {
		return fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	if err := pruneLayout(p); err != nil {
		return fmt.Errorf("pruning OCI layout %s: %w", dir, err)
	}
	return nil
}

// pruneLayout removes sha256 blobs that no manifest reachable from the
// layout's index.json mentions.
func pruneLayout(p layout.Path) error {
	idx, err := p.ImageIndex()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	if err := markIndex(idx, keep); err != nil {
		return err
	}
	dir := filepath.Join(string(p), "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func markIndex(idx v1.ImageIndex, keep map[string]bool) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		keep[d.Digest.Hex] = true
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := markIndex(child, keep); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return err
			}
			m, err := img.Manifest()
			if err != nil {
				return err
			}
			keep[m.Config.Digest.Hex] = true
			for _, l := range m.Layers {
				keep[l.Digest.Hex] = true
			}
		}
	}
	return nil
}
