package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Reference prefixes for local sources.
const (
	PrefixLayout  = "oci-layout:"
	PrefixArchive = "docker-archive:"
)

// refEntry is one line of refs.json.
type refEntry struct {
	Digest   string    `json:"digest"`
	PulledAt time.Time `json:"pulled_at"`
}

// ParseLayoutRef splits "oci-layout:DIR[:TAG]" (ok is false for other
// references). TAG defaults to "latest"; a last ":" followed by a "/" is
// part of DIR.
func ParseLayoutRef(ref string) (dir, tag string, ok bool) {
	spec, ok := strings.CutPrefix(ref, PrefixLayout)
	if !ok {
		return "", "", false
	}
	dir, tag = spec, "latest"
	if i := strings.LastIndexByte(spec, ':'); i >= 0 && !strings.Contains(spec[i+1:], "/") {
		dir, tag = spec[:i], spec[i+1:]
	}
	if tag == "" {
		tag = "latest"
	}
	return dir, tag, true
}

// canonicalRef is the key a reference is indexed under: registry refs as
// go-containerregistry names them (docker.io/library/x:latest), local
// paths made absolute with the default tag filled in.
func canonicalRef(ref string) (string, error) {
	if dir, tag, ok := ParseLayoutRef(ref); ok {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		return PrefixLayout + abs + ":" + tag, nil
	}
	if file, ok := strings.CutPrefix(ref, PrefixArchive); ok {
		abs, err := filepath.Abs(file)
		if err != nil {
			return "", err
		}
		return PrefixArchive + abs, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w: %v", ref, hypercore.ErrInvalid, err)
	}
	return r.Name(), nil
}

// Lookup returns the cached image ref last resolved to, without any I/O
// beyond the store (a tag may have moved on in its registry since).
func (s *Store) Lookup(ref string) (*Image, error) {
	key, err := canonicalRef(ref)
	if err != nil {
		return nil, err
	}
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	e, ok := refs[key]
	if !ok {
		return nil, fmt.Errorf("image %s: %w: never pulled", ref, hypercore.ErrNotFound)
	}
	return s.Get(e.Digest)
}

// RefsTo lists the references (canonical form) that resolved to digest.
func (s *Store) RefsTo(digest string) ([]string, error) {
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	var out []string
	for k, e := range refs {
		if e.Digest == digest {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *Store) refsPath() string { return filepath.Join(s.dir, "refs.json") }

func (s *Store) readRefs() (map[string]refEntry, error) {
	refs := map[string]refEntry{}
	b, err := os.ReadFile(s.refsPath())
	if errors.Is(err, os.ErrNotExist) {
		return refs, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &refs); err != nil {
		return nil, fmt.Errorf("image store %s: corrupt refs.json: %w", s.dir, err)
	}
	return refs, nil
}

// updateRefs rewrites refs.json atomically. Callers hold the lock.
func (s *Store) updateRefs(f func(map[string]refEntry)) error {
	refs, err := s.readRefs()
	if err != nil {
		return err
	}
	f(refs)
	b, err := json.MarshalIndent(refs, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.refsPath(), b)
}

// recordRef remembers that ref resolved to digest.
func (s *Store) recordRef(ref, digest string) error {
	key, err := canonicalRef(ref)
	if err != nil {
		return err
	}
	return s.locked(func() error {
		return s.updateRefs(func(m map[string]refEntry) {
			m[key] = refEntry{Digest: digest, PulledAt: time.Now().UTC()}
		})
	})
}

// dropRefs forgets every reference to digest. Callers hold the lock.
func (s *Store) dropRefs(digest string) error {
	return s.updateRefs(func(m map[string]refEntry) {
		for k, e := range m {
			if e.Digest == digest {
				delete(m, k)
			}
		}
	})
}
