package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

// TestPushFromCache: an image pulled from one registry is pushed from the
// cache alone (no request to its origin) to another, and pulls back from
// there by the returned digest reference with the same digest.
func TestPushFromCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	origin, requests := countingRegistry(t)
	dest := imagetest.Registry(t)
	img := twImage(t)
	imagetest.Push(t, origin+"/tw:v1", img)
	s, _ := openStore(t)
	pulled, err := s.Pull(ctx, origin+"/tw:v1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}

	before := requests.Load()
	for i, src := range []string{pulled.Digest, origin + "/tw:v1"} {
		si, err := s.Source(ctx, src, nil)
		if err != nil {
			t.Fatalf("Source(%s): %v", src, err)
		}
		var last, total int64
		ref, err := PushRef(ctx, si, dest+"/copy", PushOptions{Progress: func(done, tot int64) { last, total = done, tot }})
		if err != nil {
			t.Fatal(err)
		}
		if want := dest + "/copy@" + pulled.Digest; ref != want {
			t.Fatalf("PushRef = %s, want %s", ref, want)
		}
		if (i == 0 && total == 0) || last != total { // the second push finds every blob there
			t.Errorf("%s: progress ended at %d/%d", src, last, total)
		}
		fresh, _ := openStore(t)
		back, err := fresh.Pull(ctx, ref, PullOptions{})
		if err != nil || back.Digest != pulled.Digest {
			t.Fatalf("pull back %s: %v %v", ref, back, err)
		}
		if _, err := os.Stat(filepath.Join(back.RootFS, "bin/tw")); err != nil {
			t.Fatal(err)
		}
	}
	if n := requests.Load(); n != before {
		t.Errorf("pushing from the cache made %d requests to the origin registry", n-before)
	}
	if _, err := s.Source(ctx, origin+"/never:pulled", nil); !errors.Is(err, hypercore.ErrNotFound) {
		t.Errorf("Source of an unknown ref: %v, want ErrNotFound", err)
	}
}

// TestPushFromLayout: layouts push directly; a cached image that came
// from a layout (no blobs kept) is read from that layout again, and once
// the layout is gone pushing it fails with ErrNotFound.
func TestPushFromLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dest := imagetest.Registry(t)
	img := twImage(t)
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(img, dir, "v1"); err != nil {
		t.Fatal(err)
	}
	src := PrefixLayout + dir + ":v1"
	si, err := s0(t).Source(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := PushRef(ctx, si, dest+"/hello:v1", PushOptions{})
	if err != nil || !strings.HasSuffix(ref, "@"+digestOf(t, img)) {
		t.Fatalf("PushRef = %s, %v", ref, err)
	}

	s, _ := openStore(t)
	pulled, err := s.Pull(ctx, src, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if si, err = s.Source(ctx, pulled.Digest, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := PushRef(ctx, si, dest+"/hello:again", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Source(ctx, pulled.Digest, nil); !errors.Is(err, hypercore.ErrNotFound) {
		t.Errorf("Source with its layout gone: %v, want ErrNotFound", err)
	}
}

func s0(t *testing.T) *Store { s, _ := openStore(t); return s }
