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
	"time"

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

// Put reads r to its end and stores it, each piece on a distinct store.
// It encodes segment N+1 while segment N's pieces upload, so at most two
// segments are in memory: one uploading, one being read and encoded.
// progress, if set, gets the plaintext bytes stored so far.
func Put(ctx context.Context, r io.Reader, stores []PieceStore, master []byte, p Params, progress func(int64)) (*Object, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(master) != KeySize {
		return nil, fmt.Errorf("storage: master key must be %d bytes", KeySize)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	obj := &Object{Params: p}
	for _, s := range stores {
		obj.Stores = append(obj.Stores, s.Name())
	}
	// The previous segment's uploads, and what to record when they end.
	var inflight *errgroup.Group
	var done func()
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := inflight.Wait()
		inflight = nil
		if err == nil {
			done()
		}
		return err
	}
	defer func() {
		cancel()
		_ = wait() // on an early return, no upload outlives Put
	}()
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
		if err := wait(); err != nil {
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
		inflight, done = g, func() {
			obj.Segments = append(obj.Segments, seg)
			obj.Placement = append(obj.Placement, place)
			obj.Size += int64(n)
			if progress != nil {
				progress(obj.Size)
			}
		}
		if last {
			break
		}
	}
	if err := wait(); err != nil {
		return nil, err
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

// Get writes the object to w. For each segment it asks k of the stores
// that hold its pieces (the data pieces first), verifies each piece
// against its content address, and asks the other holders when a piece
// fails or the read lags (see fetch), decoding from the first k good
// pieces and cancelling the rest, so a slow or dead store costs little
// while k others answer.
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

// Hedging of reads: fetch asks for k pieces (the data pieces first, which
// then need no decoding) and asks for more only when one fails or the read
// lags: when the k-th has not arrived by twice the first one's time (at
// least hedgeFloor after it), or by hedgeFirst when none has. On a healthy
// network a read moves k pieces, not k+m.
var (
	hedgeFloor = 20 * time.Millisecond
	hedgeFirst = 2 * time.Second
)

// fetch returns k+m shard slots with at least k verified pieces.
func fetch(ctx context.Context, obj *Object, si int, stores map[string]PieceStore) ([][]byte, error) {
	seg := obj.Segments[si]
	k := obj.Params.K
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i    int
		data []byte
		err  error
	}
	// Candidates in the order they are asked: data pieces, then parity.
	var cands []int
	var errs []error
	for i := range seg.Pieces {
		name := obj.Stores[obj.Placement[si][i]]
		if _, ok := stores[name]; !ok {
			errs = append(errs, fmt.Errorf("piece %d: store %s unknown", i, name))
			continue
		}
		cands = append(cands, i)
	}
	results := make(chan result, len(cands))
	asked := 0
	ask := func(n int) {
		for ; n > 0 && asked < len(cands); n-- {
			i := cands[asked]
			pc, name := seg.Pieces[i], obj.Stores[obj.Placement[si][i]]
			st := stores[name]
			asked++
			go func() {
				data, err := st.Get(ctx, pc.ID)
				if err == nil && (len(data) != pc.Size || pieceID(data) != pc.ID) {
					data, err = nil, fmt.Errorf("%w: piece %d from %s", ErrCorrupt, i, name)
				}
				results <- result{i, data, err}
			}()
		}
	}
	start := time.Now()
	ask(k)
	hedge := time.NewTimer(hedgeFirst)
	defer hedge.Stop()
	shards := make([][]byte, len(seg.Pieces))
	good, answered := 0, 0
	for answered < asked {
		select {
		case r := <-results:
			answered++
			if r.err != nil {
				errs = append(errs, r.err)
				ask(1) // replace the failed piece
				continue
			}
			shards[r.i] = r.data
			if good++; good == k {
				return shards, nil // the rest are cancelled
			}
			if good == 1 {
				hedge.Reset(max(time.Since(start), hedgeFloor))
			}
		case <-hedge.C:
			ask(len(cands)) // lagging: ask every remaining holder
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("%w: segment %d: %d of %d needed pieces: %w", ErrUnavailable, si, good, k, errors.Join(errs...))
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
