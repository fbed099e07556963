// Package registry serves a small OCI distribution registry for local
// networks (the devnet's, `vimana registry serve`): go-containerregistry's
// pkg/registry with its blobs on disk, plus a manifest journal so tags and
// digests survive a restart (pkg/registry keeps manifests in memory only).
// It has no authentication and no TLS; callers listen on loopback.
//
// It must not import anything of vimana above internal/hypercore.
package registry

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// JournalFile records manifest puts and deletes, one JSON object a line,
// in the order the registry accepted them.
const JournalFile = "manifests.jsonl"

// maxManifest bounds a manifest body (registries commonly allow 4 MiB).
const maxManifest = 4 << 20

// entry is one line of the journal. The manifest bytes live in the blob
// store under their digest.
type entry struct {
	Op        string `json:"op"` // "put" or "delete"
	Repo      string `json:"repo"`
	Ref       string `json:"ref"` // tag or digest the client used
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"media_type,omitempty"`
}

// Registry is an http.Handler serving /v2/ from a directory:
//
//	<dir>/blobs/sha256/<hex>   blobs and manifests, by digest
//	<dir>/manifests.jsonl      the manifest journal, replayed by Open
type Registry struct {
	inner http.Handler
	dir   string

	mu      sync.Mutex // orders journal appends with the puts they record
	journal *os.File
}

// Open creates (or reopens) a registry in dir and replays its journal.
// logw receives one line per request (nil discards them).
func Open(dir string, logw io.Writer) (*Registry, error) {
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(filepath.Join(blobs, "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("opening registry: %w", err)
	}
	if logw == nil {
		logw = io.Discard
	}
	r := &Registry{dir: dir, inner: ggcr.New(
		ggcr.Logger(log.New(logw, "registry ", log.LstdFlags)),
		ggcr.WithBlobHandler(ggcr.NewDiskBlobHandler(blobs)),
	)}
	if err := r.replay(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening registry: %w", err)
	}
	r.journal = f
	return r, nil
}

// Close closes the journal.
func (r *Registry) Close() error { return r.journal.Close() }

func (r *Registry) blobPath(hexDigest string) string {
	return filepath.Join(r.dir, "blobs", "sha256", hexDigest)
}

// manifestPath splits /v2/<repo>/manifests/<ref>.
func manifestPath(p string) (repo, ref string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+len("/manifests/"):], true
}

// ServeHTTP answers the distribution API and journals manifest changes.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	repo, ref, ok := manifestPath(req.URL.Path)
	if !ok || (req.Method != http.MethodPut && req.Method != http.MethodDelete) {
		r.inner.ServeHTTP(w, req)
		return
	}
	var body []byte
	if req.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxManifest+1))
		if err != nil || len(b) > maxManifest {
			http.Error(w, "manifest too large or unreadable", http.StatusBadRequest)
			return
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	r.inner.ServeHTTP(sw, req)
	e := entry{Op: "delete", Repo: repo, Ref: ref}
	switch {
	case req.Method == http.MethodPut && sw.status == http.StatusCreated:
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])
		if err := writeBlob(r.blobPath(h), body); err != nil {
			log.Printf("registry: keeping manifest %s: %v", h, err) // served until restart
			return
		}
		e = entry{Op: "put", Repo: repo, Ref: ref, Digest: "sha256:" + h, MediaType: req.Header.Get("Content-Type")}
	case req.Method == http.MethodDelete && sw.status == http.StatusAccepted:
	default:
		return
	}
	if err := r.append(e); err != nil {
		log.Printf("registry: journal: %v", err)
	}
}

func (r *Registry) append(e entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := r.journal.Write(append(b, '\n')); err != nil {
		return err
	}
	return r.journal.Sync()
}

// replay feeds the journal back into the in-memory manifest table. A torn
// last line (a crash mid-append) is skipped.
func (r *Registry) replay() error {
	f, err := os.Open(filepath.Join(r.dir, JournalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening registry journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		var req *http.Request
		switch e.Op {
		case "put":
			b, err := os.ReadFile(r.blobPath(strings.TrimPrefix(e.Digest, "sha256:")))
			if err != nil {
				continue // its manifest blob is gone: forget the entry
			}
			req, _ = http.NewRequest(http.MethodPut, "/v2/"+e.Repo+"/manifests/"+e.Ref, bytes.NewReader(b))
			req.Header.Set("Content-Type", e.MediaType)
		case "delete":
			req, _ = http.NewRequest(http.MethodDelete, "/v2/"+e.Repo+"/manifests/"+e.Ref, nil)
		default:
			continue
		}
		if req != nil {
			r.inner.ServeHTTP(&statusWriter{ResponseWriter: discard{}}, req)
		}
	}
	return sc.Err()
}

func writeBlob(path string, b []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil // content-addressed: already there
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".manifest-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// discard is a ResponseWriter for replayed requests.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
