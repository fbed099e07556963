package wallet

import (
	"bytes"
	"strings"
	"testing"
)

func TestMnemonic(t *testing.T) {
	// BIP-39 reference vector: 32 zero bytes.
	zero, err := FromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	m, err := zero.Mnemonic()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("abandon ", 23) + "art"; m != want {
		t.Fatalf("mnemonic = %q, want %q", m, want)
	}
	k, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err = k.Mnemonic()
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromMnemonic("  " + strings.ToUpper(strings.ReplaceAll(m, " ", "\n  ")) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Seed(), k.Seed()) || back.Address() != k.Address() {
		t.Fatal("restored key differs")
	}
	// Negative cases on a fixed phrase, so none passes by chance.
	words := strings.Fields(strings.Repeat("abandon ", 23) + "art")
	for name, phrase := range map[string]string{
		"23 words":     strings.Join(words[:23], " "),
		"unknown word": strings.Join(append(words[:23:23], "vimana"), " "),
		"bad checksum": strings.Repeat("abandon ", 24),
	} {
		if _, err := FromMnemonic(phrase); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
