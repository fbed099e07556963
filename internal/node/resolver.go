package node

import (
	"context"
	"fmt"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/spacecore"
)

// imageResolver adapts the image store to the supervisor.
type imageResolver struct {
	store    *image.Store
	insecure []string
}

func (r imageResolver) Resolve(ctx context.Context, ref, digest string, o spacecore.Override) (spacecore.Image, error) {
	var img *image.Image
	var err error
	if digest != "" {
		img, err = r.store.Get(digest) // pinned: the cache first, no network
	}
	if img == nil {
		if img, err = r.store.Pull(ctx, ref, image.PullOptions{InsecureRegistries: r.insecure}); err != nil {
			return spacecore.Image{}, err
		}
	}
	if digest != "" && img.Digest != digest {
		return spacecore.Image{}, fmt.Errorf("%w: %s now resolves to %s, not the pinned %s", hypercore.ErrInvalid, ref, img.Digest, digest)
	}
	p, err := img.Process(image.Override{Command: o.Command, Args: o.Args, Env: o.Env, Workdir: o.Workdir, User: o.User})
	if err != nil {
		return spacecore.Image{}, err
	}
	return spacecore.Image{Digest: img.Digest, RootFS: img.RootFS, Process: p}, nil
}
