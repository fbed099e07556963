// Package image owns OCI images on a node: resolving references (registry
// tags and digests, OCI layouts, docker archives), a digest-addressed cache
// of unpacked root filesystems shared read-only by every machine that runs
// the image, safe unpacking of hostile layers, merging the image config
// with hac overrides, and building small images from a binary.
//
// It uses go-containerregistry and must not import spacecore, node, chain
// or hac.
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Store is a directory of unpacked images:
//
//	<dir>/rootfs/<hex>/      the flattened root filesystem of manifest sha256:<hex>
//	<dir>/rootfs/<hex>.json  its Image record (config, ref, size)
//
// Everything is written to a temporary name and renamed into place, so a
// crash never leaves a half image under its final name.
type Store struct {
	dir string
	mu  sync.Mutex // serialises unpacks and refs.json updates in-process
}

// Image is an image in the store.
type Image struct {
	Ref      string    `json:"ref"`
	Digest   string    `json:"digest"` // manifest digest, "sha256:..."
	Config   Config    `json:"config"`
	RootFS   string    `json:"rootfs"`
	Size     int64     `json:"size"` // unpacked bytes
	PulledAt time.Time `json:"pulled_at"`
}

// Config is the part of the OCI image config that decides how it runs.
type Config struct {
	Entrypoint   []string `json:"entrypoint,omitempty"`
	Cmd          []string `json:"cmd,omitempty"`
	Env          []string `json:"env,omitempty"`
	WorkingDir   string   `json:"working_dir,omitempty"`
	User         string   `json:"user,omitempty"`
	ExposedPorts []string `json:"exposed_ports,omitempty"`
}

// Open opens (creating if needed) a store rooted at dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		return nil, fmt.Errorf("opening image store: %w", err)
	}
	return &Store{dir: dir}, nil
}

func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

func (s *Store) rootfsDir(digest string) string {
	return filepath.Join(s.dir, "rootfs", hexOf(digest))
}

// Get returns the cached image with this manifest digest.
func (s *Store) Get(digest string) (*Image, error) {
	b, err := os.ReadFile(s.rootfsDir(digest) + ".json")
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image %s: %w", digest, hypercore.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return nil, fmt.Errorf("image %s: corrupt record: %w", digest, err)
	}
	if _, err := os.Stat(img.RootFS); err != nil {
		return nil, fmt.Errorf("image %s: %w: rootfs missing", digest, hypercore.ErrNotFound)
	}
	return &img, nil
}

// List returns every cached image, newest first.
func (s *Store) List() ([]Image, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "rootfs"))
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(name, ".") {
			if img, err := s.Get("sha256:" + name); err == nil {
				out = append(out, *img)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PulledAt.After(out[j].PulledAt) })
	return out, nil
}

// Remove deletes a cached image. Machines still using its rootfs keep
// their overlay mounts; new machines will pull it again.
func (s *Store) Remove(digest string) error {
	if _, err := s.Get(digest); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(s.rootfsDir(digest) + ".json"); err != nil {
		return err
	}
	return os.RemoveAll(s.rootfsDir(digest))
}

func (s *Store) saveRecord(img *Image) error {
	b, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.rootfsDir(img.Digest)+".json", b)
}

func writeAtomic(path string, b []byte) error {
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
