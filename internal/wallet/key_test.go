package wallet

import (
	"bytes"
	"encoding/json"
	"testing"
)

func testKey(t testing.TB) *Key {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	k, err := FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The address of a fixed seed must never change: it is how funds are found.
func TestAddressGolden(t *testing.T) {
	const want = "vis12er44f65vdr5cq59mawm7272ku76v5f4eu8h79"
	if got := testKey(t).Address().String(); got != want {
		t.Fatalf("address = %s, want %s", got, want)
	}
}

func TestAddressTextRoundTrip(t *testing.T) {
	a := testKey(t).Address()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Address
	if err := json.Unmarshal(b, &back); err != nil || back != a {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

func TestSignVerify(t *testing.T) {
	k := testKey(t)
	msg := []byte("hello")
	sig := k.Sign("vimana/test", msg)
	if !Verify(k.PubKey(), "vimana/test", msg, sig) {
		t.Fatal("valid signature refused")
	}
	if Verify(k.PubKey(), "vimana/other", msg, sig) {
		t.Fatal("signature accepted under another domain")
	}
	if Verify(k.PubKey(), "vimana/test", []byte("hellO"), sig) {
		t.Fatal("signature accepted for another message")
	}
	if Verify(k.PubKey()[:31], "vimana/test", msg, sig) || Verify(k.PubKey(), "vimana/test", msg, sig[:63]) {
		t.Fatal("short key or signature accepted")
	}
	k2, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if Verify(k2.PubKey(), "vimana/test", msg, sig) {
		t.Fatal("signature accepted for another key")
	}
	if bytes.Contains([]byte(k.String()), k.Seed()) {
		t.Fatal("String leaks the seed")
	}
}
