package spacecore

import (
	"context"
	"errors"
	"fmt"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Resolver turns an image reference into something a provider can run.
// The node adapts internal/image to it (Pull, then Config.Process with
// the override); tests use a tiny fake. It must be safe for concurrent use.
type Resolver interface {
	// Resolve finds or pulls ref. When digest is set the result must have
	// that digest (a pinned re-resolve after the rootfs went missing), or
	// the call fails.
	Resolve(ctx context.Context, ref, digest string, o Override) (Image, error)
}

// Override adjusts the image's process (Docker's rules: Command replaces
// the entrypoint, Args the cmd; Env is merged, the override winning).
type Override struct {
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	Workdir string   `json:"workdir,omitempty"`
	User    string   `json:"user,omitempty"`
}

// Image is a resolved image.
type Image struct {
	Digest  string            // "sha256:..."
	RootFS  string            // unpacked, read-only, shared directory
	Process hypercore.Process // the image config merged with the Override
}

// Admitter decides whether a spacecore fits on this node (internal/resources
// implements it). Reserve is called before a machine is created and
// Release when it no longer holds resources (stopped or removed). Reserve
// for an id that already holds a reservation must not count it twice.
type Admitter interface {
	Reserve(id string, r hypercore.Resources) error
	Release(id string)
}

// resolve fills rec's RootFS, Process and ImageDigest from the resolver.
func (s *Supervisor) resolve(ctx context.Context, rec *Record) error {
	if rec.ImageRef == "" {
		return nil
	}
	if s.opts.Resolver == nil {
		return fmt.Errorf("resolving image %s: %w: this node has no image resolver", rec.ImageRef, hypercore.ErrUnavailable)
	}
	img, err := s.opts.Resolver.Resolve(ctx, rec.ImageRef, rec.ImageDigest, rec.Override)
	if err != nil {
		return fmt.Errorf("resolving image %s: %w", rec.ImageRef, err)
	}
	if rec.ImageDigest != "" && img.Digest != rec.ImageDigest {
		return fmt.Errorf("resolving image %s: %w: got digest %s, want %s", rec.ImageRef, hypercore.ErrInvalid, img.Digest, rec.ImageDigest)
	}
	if img.RootFS == "" || len(img.Process.Args) == 0 {
		return fmt.Errorf("resolving image %s: %w: no rootfs or nothing to run", rec.ImageRef, hypercore.ErrInvalid)
	}
	rec.ImageDigest = img.Digest
	rec.Spec.RootFS = img.RootFS
	rec.Spec.Process = img.Process
	return nil
}

// admit reserves resources for rec, wrapping a refusal in ErrResources.
func (s *Supervisor) admit(rec *Record) error {
	if s.opts.Admitter == nil {
		return nil
	}
	if err := s.opts.Admitter.Reserve(rec.ID, rec.Spec.Resources); err != nil {
		if errors.Is(err, hypercore.ErrResources) {
			return fmt.Errorf("spacecore %s (%s) does not fit on this node: %w", rec.ID, rec.Name, err)
		}
		return fmt.Errorf("spacecore %s (%s) does not fit on this node: %w: %w", rec.ID, rec.Name, hypercore.ErrResources, err)
	}
	return nil
}

func (s *Supervisor) release(id string) {
	if s.opts.Admitter != nil {
		s.opts.Admitter.Release(id)
	}
}
