package wallet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKeystore(t *testing.T) *Keystore {
	t.Helper()
	ks, err := OpenKeystore(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	ks.ScryptN = 1 << 10 // fast; files carry their own cost
	return ks
}

func TestKeystoreRoundTrip(t *testing.T) {
	ks := testKeystore(t)
	k := testKey(t)
	pass := []byte("correct horse")
	if err := ks.Save("alice", k, pass); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(ks.dir, "alice.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(filepath.Join(ks.dir, "alice.json"))
	if strings.Contains(string(raw), "0001020304") {
		t.Fatal("seed stored in clear")
	}
	got, err := ks.Load("alice", pass)
	if err != nil {
		t.Fatal(err)
	}
	if got.Address() != k.Address() || string(got.Seed()) != string(k.Seed()) {
		t.Fatal("loaded a different key")
	}
	if err := ks.Save("alice", k, pass); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second save: %v, want ErrAlreadyExists", err)
	}
	entries, err := ks.List()
	if err != nil || len(entries) != 1 || entries[0].Name != "alice" || entries[0].Address != k.Address() {
		t.Fatalf("List = %v, %v", entries, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(ks.dir, ".tmp-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestKeystoreWrongPassphrase(t *testing.T) {
	ks := testKeystore(t)
	if err := ks.Save("bob", testKey(t), []byte("right")); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Load("bob", []byte("wrong")); !errors.Is(err, ErrPermission) {
		t.Fatalf("wrong passphrase: %v, want ErrPermission", err)
	}
}

func TestKeystoreRejects(t *testing.T) {
	ks := testKeystore(t)
	if _, err := ks.Load("nobody", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	for _, name := range []string{"", "../x", ".hidden", "a/b", strings.Repeat("x", 65)} {
		if err := ks.Save(name, testKey(t), nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Save(%q): %v, want ErrInvalid", name, err)
		}
	}
	// A file whose name or address was edited no longer decrypts.
	if err := ks.Save("carol", testKey(t), []byte("p")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(ks.dir, "carol.json")
	raw, _ := os.ReadFile(p)
	other, _ := Generate(nil)
	edited := strings.Replace(string(raw), testKey(t).Address().String(), other.Address().String(), 1)
	if err := os.WriteFile(filepath.Join(ks.dir, "dave.json"), []byte(strings.Replace(edited, `"carol"`, `"dave"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Load("dave", []byte("p")); !errors.Is(err, ErrPermission) {
		t.Fatalf("tampered file: %v, want ErrPermission", err)
	}
	// Unknown fields are refused.
	if err := os.WriteFile(p, []byte(strings.Replace(string(raw), "{", `{"extra":1,`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Load("carol", []byte("p")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown field: %v, want ErrInvalid", err)
	}
}
