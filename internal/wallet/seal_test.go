package wallet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdh.X25519().GenerateKey(rand.Reader)
	msg := []byte(`{"TOKEN":"s3cret"}`)
	box, err := Seal(k.PublicKey().Bytes(), "vimana/secrets/v1/lease-a", msg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(box, []byte("s3cret")) {
		t.Fatal("plaintext visible in the box")
	}
	got, err := Open(k, "vimana/secrets/v1/lease-a", box)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := Open(k, "vimana/secrets/v1/lease-b", box); err == nil {
		t.Error("box opened for another lease")
	}
	if _, err := Open(other, "vimana/secrets/v1/lease-a", box); err == nil {
		t.Error("box opened with another key")
	}
	bad := bytes.Clone(box)
	bad[len(bad)-1] ^= 1
	if _, err := Open(k, "vimana/secrets/v1/lease-a", bad); err == nil {
		t.Error("tampered box opened")
	}
	if _, err := Seal([]byte{1, 2}, "x", msg); err == nil {
		t.Error("sealed to a malformed key")
	}
}
