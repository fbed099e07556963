package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"
)

// memStore is an in-memory PieceStore with faults: down, corrupting, slow.
type memStore struct {
	name    string
	mu      sync.Mutex
	m       map[string][]byte
	down    bool
	corrupt bool
	delay   time.Duration
	gets    int
}

func newMem(name string) *memStore { return &memStore{name: name, m: map[string][]byte{}} }

func (s *memStore) Name() string { return s.name }

func (s *memStore) Put(_ context.Context, id string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errors.New("down")
	}
	s.m[id] = bytes.Clone(data)
	return nil
}

func (s *memStore) Get(ctx context.Context, id string) ([]byte, error) {
	s.mu.Lock()
	s.gets++
	down, corrupt, delay, data, ok := s.down, s.corrupt, s.delay, s.m[id], s.m[id] != nil
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if down || !ok {
		return nil, errors.New("unavailable")
	}
	out := bytes.Clone(data)
	if corrupt {
		out[len(out)/2] ^= 0xff
	}
	return out, nil
}

func fleet(n int) ([]PieceStore, map[string]PieceStore, []*memStore) {
	var list []PieceStore
	byName := map[string]PieceStore{}
	var raw []*memStore
	for i := 0; i < n; i++ {
		s := newMem(fmt.Sprintf("p%d", i))
		list, byName[s.name], raw = append(list, s), s, append(raw, s)
	}
	return list, byName, raw
}

func masterKey(t testing.TB) []byte {
	k, err := MasterKey([]byte("0123456789abcdef-wallet-seed"), "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func roundTrip(t *testing.T, data []byte, p Params, stores []PieceStore, byName map[string]PieceStore) *Object {
	t.Helper()
	obj, err := Put(context.Background(), bytes.NewReader(data), stores, masterKey(t), p, nil)
	if err != nil {
		t.Fatalf("put %d bytes: %v", len(data), err)
	}
	var out bytes.Buffer
	if err := Get(context.Background(), obj, byName, masterKey(t), &out); err != nil {
		t.Fatalf("get %d bytes: %v", len(data), err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("%d bytes came back as %d different bytes", len(data), out.Len())
	}
	return obj
}

func TestRoundTripSizes(t *testing.T) {
	p := Params{SegmentSize: 64 << 10, K: 4, M: 2}
	stores, byName, raw := fleet(6)
	for _, n := range []int{0, 1, InlineLimit, InlineLimit + 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3*64<<10 + 17} {
		obj := roundTrip(t, randBytes(n), p, stores, byName)
		segs := (n + p.SegmentSize - 1) / p.SegmentSize
		if n <= InlineLimit {
			if len(obj.Segments) != 1 || obj.Segments[0].Inline == nil || len(obj.Placement) != 0 {
				t.Errorf("%d bytes: want inline, got %+v", n, obj.Segments)
			}
			continue
		}
		if len(obj.Segments) != segs || obj.Size != int64(n) {
			t.Errorf("%d bytes: %d segments, want %d", n, len(obj.Segments), segs)
		}
		for si, pl := range obj.Placement {
			seen := map[int]bool{}
			for _, s := range pl {
				if seen[s] {
					t.Errorf("segment %d: two pieces on store %d", si, s)
				}
				seen[s] = true
			}
		}
	}
	// Ciphertext only: no store holds plaintext.
	secret := bytes.Repeat([]byte("TOP-SECRET-PLAINTEXT "), 10_000)
	roundTrip(t, secret, p, stores, byName)
	for _, s := range raw {
		for _, piece := range s.m {
			if bytes.Contains(piece, []byte("TOP-SECRET")) {
				t.Fatalf("store %s holds plaintext", s.name)
			}
		}
	}
}

// TestSurvivesAnyMLosses: with 4+2, every choice of 2 dead stores still
// reads back byte-exact; 3 dead fails with ErrUnavailable.
func TestSurvivesAnyMLosses(t *testing.T) {
	p := Params{SegmentSize: 32 << 10, K: 4, M: 2}
	stores, byName, raw := fleet(6)
	data := randBytes(100 << 10)
	obj, err := Put(context.Background(), bytes.NewReader(data), stores, masterKey(t), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for a := 0; a < 6; a++ {
		for b := a + 1; b < 6; b++ {
			raw[a].down, raw[b].down = true, true
			var out bytes.Buffer
			if err := Get(context.Background(), obj, byName, masterKey(t), &out); err != nil || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("stores %d and %d down: %v", a, b, err)
			}
			raw[a].down, raw[b].down = false, false
		}
	}
	raw[0].down, raw[1].down, raw[2].down = true, true, true
	if err := Get(context.Background(), obj, byName, masterKey(t), io.Discard); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("3 of 6 down: %v, want ErrUnavailable", err)
	}
}

// TestCorruptPieceSkipped: a store returning altered bytes is caught by the
// content address and the read uses other pieces.
func TestCorruptPieceSkipped(t *testing.T) {
	p := Params{SegmentSize: 32 << 10, K: 4, M: 2}
	stores, byName, raw := fleet(6)
	data := randBytes(50 << 10)
	obj, _ := Put(context.Background(), bytes.NewReader(data), stores, masterKey(t), p, nil)
	raw[1].corrupt, raw[4].corrupt = true, true
	var out bytes.Buffer
	if err := Get(context.Background(), obj, byName, masterKey(t), &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("with 2 corrupt stores: %v", err)
	}
	raw[2].corrupt = true
	if err := Get(context.Background(), obj, byName, masterKey(t), io.Discard); !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("3 corrupt: %v", err)
	}
}

// TestLongTailCancelled: a store that never answers does not slow a read.
func TestLongTailCancelled(t *testing.T) {
	p := Params{SegmentSize: 32 << 10, K: 4, M: 2}
	stores, byName, raw := fleet(6)
	data := randBytes(40 << 10)
	obj, _ := Put(context.Background(), bytes.NewReader(data), stores, masterKey(t), p, nil)
	raw[0].delay, raw[3].delay = time.Hour, time.Hour
	done := make(chan error, 1)
	go func() { done <- Get(context.Background(), obj, byName, masterKey(t), io.Discard) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("read waited for the stalled stores")
	}
}

func TestWrongKeyAndTamperedMetadata(t *testing.T) {
	p := Params{SegmentSize: 32 << 10, K: 2, M: 1}
	stores, byName, _ := fleet(3)
	for _, n := range []int{100, 40 << 10} {
		obj, err := Put(context.Background(), bytes.NewReader(randBytes(n)), stores, masterKey(t), p, nil)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := MasterKey([]byte("another wallet's seed material"), "test")
		if err := Get(context.Background(), obj, byName, other, io.Discard); !errors.Is(err, ErrKey) {
			t.Errorf("%d bytes, wrong key: %v", n, err)
		}
		obj.Segments[0].Index = 5 // keys are bound to their segment
		if err := Get(context.Background(), obj, byName, masterKey(t), io.Discard); err == nil {
			t.Errorf("%d bytes: a segment read as another index", n)
		}
	}
}

func TestParamsAndPlacementErrors(t *testing.T) {
	stores, _, _ := fleet(5)
	if _, err := Put(context.Background(), bytes.NewReader(randBytes(10<<10)), stores, masterKey(t), Params{SegmentSize: 8 << 10, K: 4, M: 2}, nil); err == nil {
		t.Error("4+2 on 5 stores accepted")
	}
	for _, p := range []Params{{SegmentSize: 1 << 20, K: 0, M: 2}, {SegmentSize: 100, K: 4, M: 2}, {SegmentSize: 1 << 20, K: 200, M: 100}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestDirStore(t *testing.T) {
	d := &DirStore{Label: "disk", Dir: t.TempDir()}
	data := randBytes(10 << 10)
	id := pieceID(data)
	if err := d.Put(context.Background(), id, data); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(context.Background(), id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v", err)
	}
	if err := d.Put(context.Background(), id, append(data, 1)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("mismatched put: %v", err)
	}
	if _, err := d.Get(context.Background(), "../../etc/passwd"); err == nil {
		t.Error("path traversal accepted")
	}
	// A full 4+2 object over six directories.
	var stores []PieceStore
	byName := map[string]PieceStore{}
	for i := 0; i < 6; i++ {
		s := &DirStore{Label: fmt.Sprintf("d%d", i), Dir: t.TempDir()}
		stores, byName[s.Label] = append(stores, s), s
	}
	roundTrip(t, randBytes(300<<10), Params{SegmentSize: 128 << 10, K: 4, M: 2}, stores, byName)
}

func TestMerkleRoot(t *testing.T) {
	a := randBytes(5 * LeafSize)
	r := MerkleRoot(a)
	b := bytes.Clone(a)
	b[3*LeafSize+7] ^= 1
	if bytes.Equal(r, MerkleRoot(b)) || !bytes.Equal(r, MerkleRoot(bytes.Clone(a))) || len(r) != 32 {
		t.Fatal("merkle root does not track content")
	}
}

// BenchmarkPut64MiB and BenchmarkGet64MiB: encrypt+encode+hash and
// verify+decode+decrypt of one 64 MiB segment, 4+2, in memory.
func BenchmarkPut64MiB(b *testing.B) {
	stores, _, _ := fleet(6)
	data := randBytes(64 << 20)
	b.SetBytes(int64(len(data)))
	defer cpuPerGB(b, int64(len(data)))()
	for range b.N {
		if _, err := Put(context.Background(), bytes.NewReader(data), stores, masterKey(b), DefaultParams(), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuPerGB reports the process's CPU seconds (user+system, all threads)
// per GB (10^9 bytes) processed, when the returned func runs.
func cpuPerGB(b *testing.B, perOp int64) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0 := cpu()
	return func() {
		gb := float64(perOp) * float64(b.N) / 1e9
		b.ReportMetric((cpu()-c0).Seconds()/gb, "cpu-s/GB")
	}
}

func BenchmarkGet64MiB(b *testing.B) {
	stores, byName, _ := fleet(6)
	data := randBytes(64 << 20)
	obj, err := Put(context.Background(), bytes.NewReader(data), stores, masterKey(b), DefaultParams(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	defer cpuPerGB(b, int64(len(data)))()
	for range b.N {
		if err := Get(context.Background(), obj, byName, masterKey(b), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadMovesK: a healthy read fetches k pieces per segment (the data
// pieces), and a failed or corrupt piece is replaced by one more request,
// not by asking every holder.
func TestReadMovesK(t *testing.T) {
	floor := hedgeFloor
	hedgeFloor = time.Hour // no lag hedging: count only what failures ask for
	t.Cleanup(func() { hedgeFloor = floor })
	p := Params{SegmentSize: 32 << 10, K: 4, M: 2}
	stores, byName, raw := fleet(6)
	data := randBytes(3*32<<10 + 5) // 4 segments
	obj := roundTrip(t, data, p, stores, byName)
	gets := func() (n int) {
		for _, s := range raw {
			s.mu.Lock()
			n += s.gets
			s.gets = 0
			s.mu.Unlock()
		}
		return n
	}
	if n := gets(); n != p.K*len(obj.Segments) {
		t.Fatalf("healthy read: %d piece requests for %d segments, want %d", n, len(obj.Segments), p.K*len(obj.Segments))
	}
	raw[obj.Placement[0][1]].down = true    // a data piece of segment 0 (and others on that store)
	raw[obj.Placement[2][0]].corrupt = true // a data piece of segment 2 (and others on that store)
	var out bytes.Buffer
	if err := Get(context.Background(), obj, byName, masterKey(t), &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("read with one store down and one corrupt: %v", err)
	}
	// Each segment has at most two bad pieces (one per faulty store), each
	// replaced by one request.
	if n := gets(); n < p.K*len(obj.Segments)+2 || n > (p.K+2)*len(obj.Segments) {
		t.Fatalf("degraded read: %d piece requests for %d segments", n, len(obj.Segments))
	}
}

func TestPassphraseSecret(t *testing.T) {
	a, err := PassphraseSecret([]byte("correct horse"), "vis1alice")
	if err != nil || len(a) != KeySize {
		t.Fatalf("%x %v", a, err)
	}
	again, _ := PassphraseSecret([]byte("correct horse"), "vis1alice")
	other, _ := PassphraseSecret([]byte("correct horse"), "vis1bob")
	wrong, _ := PassphraseSecret([]byte("correct horsf"), "vis1alice")
	if !bytes.Equal(a, again) || bytes.Equal(a, other) || bytes.Equal(a, wrong) {
		t.Fatal("the secret must depend on exactly the passphrase and the owner")
	}
	if _, err := PassphraseSecret([]byte("short"), "vis1alice"); err == nil {
		t.Fatal("a 5-byte passphrase accepted")
	}
}
