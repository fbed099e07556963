package storage

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/reedsolomon"
	"golang.org/x/sync/errgroup"
)

// PieceStore holds pieces by content address (a provider's piece store,
// or a directory in tests and on the provider itself).
type PieceStore interface {
	Name() string
	Put(ctx context.Context, id string, data []byte) error
	Get(ctx context.Context, id string) ([]byte, error)
}

// Object is an object's metadata: everything needed to read it back given
// the stores and the master key.
type Object struct {
	Size     int64     `json:"size"`
	Params   Params    `json:"params"`
	Stores   []string  `json:"stores"`   // store names, by index
	Segments []Segment `json:"segments"` // in order
	// Placement[s][i] is the index into Stores holding piece i of segment s.
	Placement [][]int `json:"placement,omitempty"`
	// Deal is the storage deal that pays for the pieces, when the network
	// keeps them under deals (objects.DealNetwork); empty otherwise.
	Deal string `json:"deal,omitempty"`
}

// Put reads r to its end and stores it: segment by segment (never more
// than one segment in memory), each piece on a distinct store. progress,
// if set, gets the plaintext bytes stored so far.
func Put(ctx context.Context, r io.Reader, stores []PieceStore, master []byte, p Params, progress func(int64)) (*Object, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(master) != KeySize {
		return nil, fmt.Errorf("storage: master key must be %d bytes", KeySize)
	}
	obj := &Object{Params: p}
	for _, s := range stores {
		obj.Stores = append(obj.Stores, s.Name())
	}
	buf := make([]byte, p.SegmentSize)
	first := true
	for index := 0; ; index++ {
		n, err := io.ReadFull(r, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if n == 0 && !first {
			break
		}
		last := n < len(buf)
		if first && last && n <= InlineLimit {
			seg, err := inlineSegment(master, buf[:n])
			if err != nil {
				return nil, err
			}
			obj.Segments, obj.Size = []Segment{seg}, int64(n)
			if progress != nil {
				progress(obj.Size)
			}
			return obj, nil
		}
		first = false
		if len(stores) < p.K+p.M {
			return nil, fmt.Errorf("storage: %d stores for %d+%d pieces: pieces must go to distinct stores", len(stores), p.K, p.M)
		}
		enc, err := reedsolomon.New(p.K, p.M)
		if err != nil {
			return nil, err
		}
		seg, shards, err := encodeSegment(enc, p, master, index, buf[:n])
		if err != nil {
			return nil, err
		}
		place := make([]int, len(shards))
		g, gctx := errgroup.WithContext(ctx)
		for i, sh := range shards {
			place[i] = (index + i) % len(stores) // spread segments over stores
			st, id := stores[place[i]], seg.Pieces[i].ID
			g.Go(func() error {
				if err := st.Put(gctx, id, sh); err != nil {
					return fmt.Errorf("storage: piece %d of segment %d to %s: %w", i, index, st.Name(), err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		obj.Segments = append(obj.Segments, seg)
		obj.Placement = append(obj.Placement, place)
		obj.Size += int64(n)
		if progress != nil {
			progress(obj.Size)
		}
		if last {
			break
		}
	}
	return obj, nil
}

func inlineSegment(master, plain []byte) (Segment, error) {
	seg := Segment{Index: 0, Size: len(plain)}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return seg, err
	}
	var err error
	if seg.WrappedKey, err = wrap(master, key, 0); err != nil {
		return seg, err
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	seg.Inline = gcm.Seal(nil, make([]byte, gcm.NonceSize()), plain, segmentAD(0))
	seg.CipherSize = len(seg.Inline)
	return seg, nil
}

// Get writes the object to w. For each segment it asks every store that
// holds one of its pieces at once, verifies each piece against its content
// address, decodes from the first k good ones and cancels the rest, so a
// slow or dead store costs nothing while k others answer.
func Get(ctx context.Context, obj *Object, stores map[string]PieceStore, master []byte, w io.Writer) error {
	for si, seg := range obj.Segments {
		if seg.Inline != nil {
			key, err := unwrap(master, seg.WrappedKey, seg.Index)
			if err != nil {
				return err
			}
			block, _ := aes.NewCipher(key)
			gcm, _ := cipher.NewGCM(block)
			plain, err := gcm.Open(nil, make([]byte, gcm.NonceSize()), seg.Inline, segmentAD(0))
			if err != nil {
				return ErrCorrupt
			}
			if _, err := w.Write(plain); err != nil {
				return err
			}
			continue
		}
		shards, err := fetch(ctx, obj, si, stores)
		if err != nil {
			return err
		}
		enc, err := reedsolomon.New(obj.Params.K, obj.Params.M)
		if err != nil {
			return err
		}
		plain, err := decodeSegment(enc, obj.Params.K, master, seg, shards)
		if err != nil {
			return err
		}
		if len(plain) != seg.Size {
			return ErrCorrupt
		}
		if _, err := w.Write(plain); err != nil {
			return err
		}
	}
	return nil
}

// fetch returns k+m shard slots with at least k verified pieces.
func fetch(ctx context.Context, obj *Object, si int, stores map[string]PieceStore) ([][]byte, error) {
	seg := obj.Segments[si]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i    int
		data []byte
		err  error
	}
	results := make(chan result, len(seg.Pieces))
	asked := 0
	for i, pc := range seg.Pieces {
		name := obj.Stores[obj.Placement[si][i]]
		st, ok := stores[name]
		if !ok {
			continue
		}
		asked++
		go func() {
			data, err := st.Get(ctx, pc.ID)
			if err == nil && (len(data) != pc.Size || pieceID(data) != pc.ID) {
				data, err = nil, fmt.Errorf("%w: piece %d from %s", ErrCorrupt, i, name)
			}
			results <- result{i, data, err}
		}()
	}
	shards := make([][]byte, len(seg.Pieces))
	good := 0
	var errs []error
	for range asked {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		shards[r.i] = r.data
		if good++; good == obj.Params.K {
			return shards, nil // the rest are cancelled
		}
	}
	return nil, fmt.Errorf("%w: segment %d: %d of %d needed pieces: %w", ErrUnavailable, si, good, obj.Params.K, errors.Join(errs...))
}

// DirStore is a PieceStore on a directory: content-addressed files,
// written to a temporary file, fsynced and renamed, so a crash never
// leaves a partial piece under its name.
type DirStore struct {
	Label string
	Dir   string
}

// Name implements PieceStore.
func (d *DirStore) Name() string { return d.Label }

func (d *DirStore) path(id string) (string, error) {
	if len(id) != 64 {
		return "", fmt.Errorf("storage: bad piece id %q", id)
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("storage: bad piece id %q", id)
		}
	}
	return filepath.Join(d.Dir, id[:2], id), nil
}

// Put implements PieceStore.
func (d *DirStore) Put(_ context.Context, id string, data []byte) error {
	if pieceID(data) != id {
		return fmt.Errorf("%w: data does not match id %s", ErrCorrupt, id)
	}
	path, err := d.path(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Get implements PieceStore.
func (d *DirStore) Get(_ context.Context, id string) ([]byte, error) {
	path, err := d.path(id)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}
