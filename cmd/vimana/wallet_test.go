package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWalletCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary; skipped with -short")
	}
	bin := buildVimana(t)
	home := t.TempDir()
	pp := filepath.Join(home, "pp")
	os.WriteFile(pp, []byte("correct horse\n"), 0o600)
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(nil, "wallet", "new", "alice", "--passphrase-file", pp, "-o", "json")
	if err != nil {
		t.Fatalf("new: %v %s", err, out)
	}
	var created struct{ Name, Address string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.Address, "vis1") {
		t.Fatalf("new -o json = %q (%v)", out, err)
	}
	if out, err := run(nil, "wallet", "list"); err != nil || !strings.Contains(out, created.Address) {
		t.Fatalf("list: %v %s", err, out)
	}
	// The passphrase file's trailing newline is not part of it; env works too.
	if out, err := run([]string{"VIMANA_PASSPHRASE=correct horse"}, "wallet", "show", "alice"); err != nil || !strings.Contains(out, created.Address) {
		t.Fatalf("show with the env passphrase: %v %s", err, out)
	}
	if out, err := run([]string{"VIMANA_PASSPHRASE=wrong"}, "wallet", "show", "alice"); err == nil {
		t.Fatalf("show with a wrong passphrase succeeded: %s", out)
	} else if strings.Contains(out, "correct horse") {
		t.Fatal("the passphrase was printed")
	}
	if out, err := run(nil, "wallet", "new", "alice", "--passphrase-file", pp); err == nil {
		t.Fatalf("overwriting a key succeeded: %s", out)
	}
	// A backup phrase printed once by new restores the same address.
	out, err = run(nil, "wallet", "new", "bob", "--mnemonic", "-o", "json")
	if err != nil {
		t.Fatalf("new --mnemonic: %v %s", err, out)
	}
	var bob struct{ Address, Mnemonic string }
	if err := json.Unmarshal([]byte(out), &bob); err != nil || len(strings.Fields(bob.Mnemonic)) != 24 {
		t.Fatalf("new --mnemonic -o json = %q (%v)", out, err)
	}
	mf := filepath.Join(home, "phrase")
	os.WriteFile(mf, []byte(bob.Mnemonic+"\n"), 0o600)
	if out, err := run(nil, "wallet", "import", "bob2", "--mnemonic-file", mf); err != nil || !strings.Contains(out, bob.Address) {
		t.Fatalf("import --mnemonic-file: %v %s (want %s)", err, out, bob.Address)
	}
	if out, err := run(nil, "wallet", "show", "bob2"); err != nil || strings.Contains(out, strings.Fields(bob.Mnemonic)[0]+" "+strings.Fields(bob.Mnemonic)[1]) {
		t.Fatalf("show bob2: %v %s", err, out)
	}
	os.WriteFile(mf, []byte(strings.Repeat("abandon ", 24)), 0o600)
	if out, err := run(nil, "wallet", "import", "bad", "--mnemonic-file", mf); err == nil {
		t.Fatalf("a phrase with a bad checksum was imported: %s", out)
	}
	if fi, err := os.Stat(filepath.Join(home, "keys")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("keys dir is readable by others: %v %v", fi.Mode(), err)
	}
}
