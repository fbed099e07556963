package piecestore

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/merkle"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/wallet"
)

const testDeal = "abcdefghijklmnop"

func testKey(t testing.TB, b byte) *wallet.Key {
	t.Helper()
	k, err := wallet.FromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func blob(n int, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13) ^ salt
	}
	return b
}

func openStore(t *testing.T, dir string, capacity uint64) *Store {
	t.Helper()
	s, err := Open(dir, capacity, testKey(t, 9))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutGetRangeProof(t *testing.T) {
	s := openStore(t, t.TempDir(), 1<<20)
	data := blob(5*merkle.LeafSize+77, 1)
	id := ID(data)
	rc, err := s.Put(testDeal, id, data)
	if err != nil {
		t.Fatal(err)
	}
	if signer, ok := rc.Verify(); !ok || signer != s.Address() || rc.Size != uint64(len(data)) || rc.Deal != testDeal {
		t.Fatalf("receipt %+v does not verify", rc)
	}
	got, err := s.Get(id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v", err)
	}
	r, err := s.ReadRange(id, 100, 50)
	if err != nil || !bytes.Equal(r, data[100:150]) {
		t.Fatalf("range: %v", err)
	}
	if r, err := s.ReadRange(id, int64(len(data))-3, 50); err != nil || !bytes.Equal(r, data[len(data)-3:]) {
		t.Fatalf("range past the end: %v", err)
	}
	if _, err := s.ReadRange(id, int64(len(data))+1, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("range beyond the piece: %v", err)
	}
	root := merkle.Root(data)
	for leaf := range merkle.Leaves(uint64(len(data))) {
		p, err := s.Prove(id, leaf)
		if err != nil || !merkle.Verify(root, uint64(len(data)), leaf, p.Data, p.Path) {
			t.Fatalf("leaf %d: proof does not verify (%v)", leaf, err)
		}
	}
	if _, err := s.Prove(id, 6); !errors.Is(err, ErrInvalid) {
		t.Fatalf("proof past the last leaf: %v", err)
	}
	if _, err := s.Put(testDeal, id, data[1:]); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("data not matching id: %v", err)
	}
	if _, err := s.Put("bad deal", id, data); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad deal id: %v", err)
	}
	if _, err := s.Get(strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing piece: %v", err)
	}
}

func TestCapacity(t *testing.T) {
	s := openStore(t, t.TempDir(), 3000)
	a, b := blob(2000, 1), blob(1500, 2)
	if _, err := s.Put(testDeal, ID(a), a); err != nil {
		t.Fatal(err)
	}
	// The same piece for another deal takes no more room.
	if _, err := s.Put("bbbbbbbbbbbbbbbb", ID(a), a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(testDeal, ID(b), b); !errors.Is(err, ErrFull) {
		t.Fatalf("over capacity: %v", err)
	}
	if c, u := s.Usage(); c != 3000 || u != 2000 {
		t.Fatalf("usage %d/%d", u, c)
	}
	if d := s.Deals(ID(a)); len(d) != 2 {
		t.Fatalf("deals %v", d)
	}
}

// TestCrashLeftovers: a temp file from an interrupted write and a piece
// renamed in without its record are removed on reopen; complete pieces
// survive with their accounting.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 1<<20)
	keep := blob(3000, 3)
	if _, err := s.Put(testDeal, ID(keep), keep); err != nil {
		t.Fatal(err)
	}
	half := blob(4000, 4)
	hid := ID(half)
	shard := filepath.Join(dir, hid[0:2], hid[2:4])
	os.MkdirAll(shard, 0o700)
	tmp := filepath.Join(shard, tmpPrefix+"123")
	os.WriteFile(tmp, half[:1000], 0o600)
	orphan := filepath.Join(shard, hid)
	os.WriteFile(orphan, half, 0o600)

	s = openStore(t, dir, 1<<20)
	for _, p := range []string{tmp, orphan} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s survived reopen: %v", p, err)
		}
	}
	if s.Has(hid) {
		t.Fatal("half-written piece is listed")
	}
	if got, err := s.Get(ID(keep)); err != nil || !bytes.Equal(got, keep) {
		t.Fatalf("complete piece lost: %v", err)
	}
	if _, u := s.Usage(); u != 3000 {
		t.Fatalf("used %d after reopen, want 3000", u)
	}
}

func TestCorruptPieceDetected(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 1<<20)
	data := blob(2*merkle.GroupSize+3000, 5)
	id := ID(data)
	s.Put(testDeal, id, data)
	path, _ := s.path(id)
	data[10] ^= 1 // in group 0
	os.WriteFile(path, data, 0o600)
	if _, err := s.Get(id); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("corrupt piece read: %v", err)
	}
	// The rotted leaf, and its group's other leaves (whose paths go
	// through it), no longer prove.
	for _, leaf := range []uint64{0, 2} {
		if _, err := s.Prove(id, leaf); !errors.Is(err, storage.ErrCorrupt) {
			t.Fatalf("leaf %d of a corrupt group proved: %v", leaf, err)
		}
	}
	// Leaves of other groups still prove, and the chain accepts them.
	root, _ := hex.DecodeString(id)
	leaf := uint64(merkle.GroupLeaves + 1)
	p, err := s.Prove(id, leaf)
	if err != nil {
		t.Fatalf("intact leaf of a damaged piece: %v", err)
	}
	if !merkle.Verify(root, uint64(len(data)), leaf, p.Data, p.Path) {
		t.Fatal("proof of an intact leaf does not verify")
	}
	// Without a stored outline, Prove falls back to the whole piece.
	os.Remove(path + ".tree")
	if _, err := s.Prove(id, 2); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("corrupt piece proved without leaf hashes: %v", err)
	}
}

func TestGC(t *testing.T) {
	s := openStore(t, t.TempDir(), 1<<20)
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	live, ended, pending := blob(100, 1), blob(200, 2), blob(300, 3)
	s.Put("livelivelivelive", ID(live), live)
	s.Put("endedendedendede", ID(ended), ended)
	s.Put("endedendedendede", ID(live), live) // live keeps it
	s.Put("pendingpendingpe", ID(pending), pending)
	state := func(deal, _ string) int {
		switch deal {
		case "livelivelivelive":
			return DealLive
		case "pendingpendingpe":
			return DealPending
		}
		return DealEnded
	}
	freed, err := s.GC(state, time.Hour)
	if err != nil || freed != 200 || !s.Has(ID(live)) || s.Has(ID(ended)) || !s.Has(ID(pending)) {
		t.Fatalf("gc: freed %d, %v", freed, err)
	}
	if d := s.Deals(ID(live)); len(d) != 1 {
		t.Fatalf("live piece deals %v", d)
	}
	now = now.Add(2 * time.Hour)
	if freed, _ := s.GC(state, time.Hour); freed != 300 || s.Has(ID(pending)) {
		t.Fatalf("stale pending piece kept (freed %d)", freed)
	}
	if _, u := s.Usage(); u != 100 {
		t.Fatalf("used %d", u)
	}
}

// FuzzParseID: an accepted id never names a path outside its shard.
func FuzzParseID(f *testing.F) {
	for _, seed := range []string{strings.Repeat("a", 64), "../" + strings.Repeat("a", 61), strings.Repeat("A", 64), "", "/etc/passwd",
		strings.Repeat("0", 63) + "/", strings.Repeat("f", 65), "..", strings.Repeat("0", 62) + "\x00a"} {
		f.Add(seed)
	}
	s := &Store{dir: "/store"}
	f.Fuzz(func(t *testing.T, id string) {
		p, err := s.path(id)
		if err != nil {
			return
		}
		if filepath.Clean(p) != p || filepath.Dir(filepath.Dir(filepath.Dir(p))) != "/store" || filepath.Base(p) != id {
			t.Fatalf("id %q maps to %q", id, p)
		}
	})
}

func TestConcurrentPutsOfOnePiece(t *testing.T) {
	s := openStore(t, t.TempDir(), 1<<20)
	data := blob(10000, 8)
	done := make(chan error)
	for range 8 {
		go func() {
			_, err := s.Put(testDeal, ID(data), data)
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, u := s.Usage(); u != 10000 {
		t.Fatalf("used %d after 8 concurrent puts of one 10000-byte piece", u)
	}
}

// TestPutReaderBadStreams: a short body or one that does not hash to its
// id keeps nothing (no piece, no temporary file, no reserved capacity).
func TestPutReaderBadStreams(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 1<<24)
	data := blob(3*merkle.GroupSize+100, 7)
	id := ID(data)
	if _, err := s.PutReader(testDeal, id, int64(len(data)), bytes.NewReader(data[:len(data)-1])); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short body: %v", err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	if _, err := s.PutReader(testDeal, id, int64(len(bad)), bytes.NewReader(bad)); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("wrong bytes: %v", err)
	}
	if s.Has(id) {
		t.Fatal("a bad upload is listed")
	}
	if _, u := s.Usage(); u != 0 {
		t.Fatalf("%d bytes still reserved", u)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	// The same id with the right bytes is then stored.
	if _, err := s.PutReader(testDeal, id, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get after put: %v", err)
	}
}

// TestProveRebuildsTornOutline: the outline is written without an fsync, so
// one torn by a crash (right length, wrong bytes) is rebuilt from the
// piece rather than failing an audit.
func TestProveRebuildsTornOutline(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 1<<24)
	data := blob(5*merkle.GroupSize+10, 3)
	id := ID(data)
	if _, err := s.Put(testDeal, id, data); err != nil {
		t.Fatal(err)
	}
	path, _ := s.path(id)
	good, err := os.ReadFile(path + ".tree")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+".tree", make([]byte, len(good)), 0o600)
	root, _ := hex.DecodeString(id)
	for _, leaf := range []uint64{0, 2*merkle.GroupLeaves + 3, merkle.Leaves(uint64(len(data))) - 1} {
		p, err := s.Prove(id, leaf)
		if err != nil {
			t.Fatalf("leaf %d: %v", leaf, err)
		}
		if !merkle.Verify(root, uint64(len(data)), leaf, p.Data, p.Path) {
			t.Fatalf("leaf %d: proof does not verify", leaf)
		}
	}
	if now, _ := os.ReadFile(path + ".tree"); !bytes.Equal(now, good) {
		t.Fatal("torn outline not rewritten")
	}
}
