package wallet

import (
	"errors"
	"strings"
	"testing"
)

// BIP-173 test vectors.
func TestBech32Vectors(t *testing.T) {
	valid := []string{
		"A12UEL5L",
		"a12uel5l",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
		"?1ezyfcl",
	}
	for _, s := range valid {
		hrp, data, err := bech32Decode5(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if got := bech32Encode5(hrp, data); got != strings.ToLower(s) {
			t.Errorf("%q: re-encoded as %q", s, got)
		}
	}
	invalid := []string{
		"\x201nwldj5", // hrp character out of range
		"\x7f1axkwrx", // hrp character out of range
		"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx", // too long
		"pzry9x0s0muk",  // no separator
		"1pzry9x0s0muk", // empty hrp
		"x1b4n0q5v",     // invalid data character
		"li1dgmt3",      // checksum too short
		"A1G7SGD8",      // checksum computed with uppercase hrp
		"10a06t8",       // empty hrp
		"1qzzfhee",      // empty hrp
		"a12UEL5L",      // mixed case
	}
	for _, s := range invalid {
		if _, _, err := bech32Decode5(s); !errors.Is(err, errBech32) {
			t.Errorf("%q: got %v, want errBech32", s, err)
		}
	}
}

func TestParseAddressErrors(t *testing.T) {
	k := testKey(t)
	good := k.Address().String()
	flipped := []byte(good)
	last := len(flipped) - 1
	if flipped[last] == 'q' {
		flipped[last] = 'p'
	} else {
		flipped[last] = 'q'
	}
	other, err := bech32Encode("cosmos", k.Address().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	short, err := bech32Encode(AddressPrefix, k.Address().Bytes()[:19])
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"checksum":    string(flipped),
		"prefix":      other,
		"length":      short,
		"empty":       "",
		"mixed case":  strings.ToUpper(good[:5]) + good[5:],
		"bad charset": good[:10] + "b" + good[11:],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseAddress(s); !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseAddress(%q) = %v, want ErrInvalid", s, err)
			}
		})
	}
	a, err := ParseAddress(strings.ToUpper(good))
	if err != nil || a != k.Address() {
		t.Fatalf("upper-case address: %v, %v", a, err)
	}
}
