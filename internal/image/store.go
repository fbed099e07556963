// Package image owns OCI images on a node: resolving references (registry
// tags and digests, OCI layouts, docker archives), a digest-addressed cache
// of layer blobs and of unpacked root filesystems shared read-only by every
// machine that runs the image, safe unpacking of hostile layers, merging
// the image config with hac overrides, and building small images from a
// binary.
//
// It uses go-containerregistry and hypercore's error classes; it must not
// import spacecore, node, provider, api, chain, market or hac (callers
// translate their specs into Override).
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"golang.org/x/sys/unix"
)

// Store is a directory of images:
//
//	<dir>/rootfs/<hex>/           flattened root filesystem of manifest sha256:<hex>
//	<dir>/images/<hex>.json       its Image record (ref, config, size, layers)
//	<dir>/images/<hex>.manifest   its raw manifest and config (.config), so it
//	                              can be pushed again byte for byte
//	<dir>/blobs/sha256/<hex>      compressed layer blobs fetched from registries
//	<dir>/refs.json               the last digest each reference resolved to
//	<dir>/tmp/                    work in progress, <pid>-named
//
// Everything is written under tmp/ (same filesystem) and renamed into
// place; the rename of rootfs/<hex> is the commit point, so a rootfs under
// its final name is always complete. Several processes may share a store:
// updates to records and refs.json take an flock on <dir>/.lock.
type Store struct {
	dir string

	mu       sync.Mutex
	inflight map[string]*sync.Mutex // per-digest: one unpack at a time in-process
}

// Image is an image in the store.
type Image struct {
	Ref      string    `json:"ref"`    // the reference it was first pulled by
	Digest   string    `json:"digest"` // manifest digest, "sha256:..."
	Config   Config    `json:"config"`
	RootFS   string    `json:"rootfs"`
	Size     int64     `json:"size"`             // unpacked regular-file bytes
	Layers   []string  `json:"layers,omitempty"` // compressed layer digests
	PulledAt time.Time `json:"pulled_at"`
}

// Config is the part of the OCI image config that decides how it runs.
type Config struct {
	Entrypoint   []string `json:"entrypoint,omitempty"`
	Cmd          []string `json:"cmd,omitempty"`
	Env          []string `json:"env,omitempty"`
	WorkingDir   string   `json:"working_dir,omitempty"`
	User         string   `json:"user,omitempty"`
	ExposedPorts []string `json:"exposed_ports,omitempty"` // "8080/tcp"
}

// Open opens (creating if needed) a store rooted at dir and removes work
// left behind by processes that died mid-pull.
func Open(dir string) (*Store, error) {
	for _, d := range []string{"rootfs", "images", "blobs/sha256", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	s := &Store{dir: dir, inflight: map[string]*sync.Mutex{}}
	s.cleanStale()
	return s, nil
}

// Dir is the store's root directory.
func (s *Store) Dir() string { return s.dir }

var hexDigest = regexp.MustCompile(`^[a-f0-9]{64}$`)

// hexOf validates a "sha256:<hex>" (or bare hex) digest, so a digest can
// never name a path outside the store.
func hexOf(digest string) (string, error) {
	h := strings.TrimPrefix(digest, "sha256:")
	if !hexDigest.MatchString(h) {
		return "", fmt.Errorf("image digest %q: %w: want sha256:<64 hex digits>", digest, hypercore.ErrInvalid)
	}
	return h, nil
}

func (s *Store) rootfsDir(hex string) string { return filepath.Join(s.dir, "rootfs", hex) }
func (s *Store) recordPath(hex string) string {
	return filepath.Join(s.dir, "images", hex+".json")
}

// Get returns the cached image with this manifest digest.
func (s *Store) Get(digest string) (*Image, error) {
	hex, err := hexOf(digest)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.recordPath(hex))
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
	img.RootFS = s.rootfsDir(hex) // the store may have moved
	if _, err := os.Lstat(img.RootFS); err != nil {
		return nil, fmt.Errorf("image %s: %w: rootfs missing", digest, hypercore.ErrNotFound)
	}
	return &img, nil
}

// List returns every cached image, newest first.
func (s *Store) List() ([]Image, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "images"))
	if err != nil {
		return nil, err
	}
	out := []Image{}
	for _, e := range ents {
		if hex, ok := strings.CutSuffix(e.Name(), ".json"); ok && hexDigest.MatchString(hex) {
			if img, err := s.Get("sha256:" + hex); err == nil {
				out = append(out, *img)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PulledAt.After(out[j].PulledAt) })
	return out, nil
}

// Remove deletes a cached image, the references to it and the layer blobs
// no other cached image uses. Machines still running on its rootfs keep
// their mounts; new machines will pull it again.
func (s *Store) Remove(digest string) error {
	hex, err := hexOf(digest)
	if err != nil {
		return err
	}
	if _, err := s.Get(digest); err != nil {
		return err
	}
	trash, err := s.tempName("rm")
	if err != nil {
		return err
	}
	err = s.locked(func() error {
		// Renaming first means a crash mid-delete leaves only tmp/ litter.
		if err := os.Rename(s.rootfsDir(hex), trash); err != nil {
			return fmt.Errorf("removing image %s: %w", digest, err)
		}
		if err := os.Remove(s.recordPath(hex)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := s.dropRaw(hex); err != nil {
			return err
		}
		if err := s.dropRefs("sha256:" + hex); err != nil {
			return err
		}
		return s.gcBlobs()
	})
	if rerr := os.RemoveAll(trash); err == nil {
		err = rerr
	}
	return err
}

// gcBlobs deletes blobs that no record mentions and no live pull wants.
// Callers hold the lock.
func (s *Store) gcBlobs() error {
	keep := s.wanted()
	imgs, err := s.List()
	if err != nil {
		return err
	}
	for _, img := range imgs {
		for _, l := range img.Layers {
			keep[strings.TrimPrefix(l, "sha256:")] = true
		}
	}
	dir := filepath.Join(s.dir, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// locked runs f holding the store's in-process mutex and its flock.
func (s *Store) locked(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lf, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking image store: %w", err)
	}
	defer unix.Flock(int(lf.Fd()), unix.LOCK_UN)
	return f()
}

// digestLock serialises work on one digest within this process, so N
// machines starting the same image unpack it once.
func (s *Store) digestLock(hex string) func() {
	s.mu.Lock()
	m, ok := s.inflight[hex]
	if !ok {
		m = &sync.Mutex{}
		s.inflight[hex] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// tempName returns an unused path under tmp/ carrying our pid.
func (s *Store) tempName(kind string) (string, error) {
	d, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), fmt.Sprintf("%d-%s-", os.Getpid(), kind))
	if err != nil {
		return "", err
	}
	return d, os.Remove(d)
}

// cleanStale removes tmp/ entries of processes that no longer exist.
func (s *Store) cleanStale() {
	dir := filepath.Join(s.dir, "tmp")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		pidStr, _, _ := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || (pid != os.Getpid() && unix.Kill(pid, 0) == unix.ESRCH) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// want marks blob hex as in use by this process until release is called,
// so a concurrent Remove in another process does not collect it between
// download and commit.
func (s *Store) want(hex string) (release func(), err error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), fmt.Sprintf("%d-want-%s-", os.Getpid(), hex))
	if err != nil {
		return nil, err
	}
	f.Close()
	return func() { os.Remove(f.Name()) }, nil
}

// wanted lists blobs that live pulls hold with want.
func (s *Store) wanted() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	for _, e := range ents {
		parts := strings.SplitN(e.Name(), "-", 4)
		if len(parts) == 4 && parts[1] == "want" {
			if pid, err := strconv.Atoi(parts[0]); err == nil && (pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH) {
				out[parts[2]] = true
			}
		}
	}
	return out
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
