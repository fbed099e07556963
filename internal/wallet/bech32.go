package wallet

import (
	"errors"
	"fmt"
	"strings"
)

// This file implements bech32 (BIP-173) encoding of addresses. It is small
// and covered by the BIP-173 test vectors in bech32_test.go, so we keep
// it here rather than pulling a bitcoin library for forty lines.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var bech32Gen = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

// errBech32 is the class of every bech32 decoding failure.
var errBech32 = errors.New("invalid bech32 string")

func bech32Polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>uint(i))&1 == 1 {
				chk ^= bech32Gen[i]
			}
		}
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, len(hrp)*2+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

func bech32Checksum(hrp string, data []byte) []byte {
	values := append(bech32HRPExpand(hrp), data...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(values) ^ 1
	out := make([]byte, 6)
	for i := 0; i < 6; i++ {
		out[i] = byte((mod >> uint(5*(5-i))) & 31)
	}
	return out
}

// convertBits regroups a byte slice from frombits-wide to tobits-wide
// groups (BIP-173 reference algorithm).
func convertBits(data []byte, fromBits, toBits uint, pad bool) ([]byte, error) {
	acc, bits := uint32(0), uint(0)
	maxv := uint32(1)<<toBits - 1
	var out []byte
	for _, b := range data {
		if uint32(b)>>fromBits != 0 {
			return nil, fmt.Errorf("%w: value out of range", errBech32)
		}
		acc = acc<<fromBits | uint32(b)
		bits += fromBits
		for bits >= toBits {
			bits -= toBits
			out = append(out, byte((acc>>bits)&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte((acc<<(toBits-bits))&maxv))
		}
	} else if bits >= fromBits || (acc<<(toBits-bits))&maxv != 0 {
		return nil, fmt.Errorf("%w: bad padding", errBech32)
	}
	return out, nil
}

// bech32Encode encodes 8-bit data under a human-readable part.
func bech32Encode(hrp string, data []byte) (string, error) {
	conv, err := convertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	return bech32Encode5(hrp, conv), nil
}

func bech32Encode5(hrp string, data5 []byte) string {
	var sb strings.Builder
	sb.WriteString(hrp)
	sb.WriteByte('1')
	for _, d := range append(data5, bech32Checksum(hrp, data5)...) {
		sb.WriteByte(bech32Charset[d])
	}
	return sb.String()
}

// bech32Decode5 returns the human-readable part and the 5-bit data of s,
// checksum removed.
func bech32Decode5(s string) (string, []byte, error) {
	if len(s) < 8 || len(s) > 90 {
		return "", nil, fmt.Errorf("%w: length %d", errBech32, len(s))
	}
	lower, upper := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			return "", nil, fmt.Errorf("%w: character %d out of range", errBech32, i)
		}
		lower = lower || (c >= 'a' && c <= 'z')
		upper = upper || (c >= 'A' && c <= 'Z')
	}
	if lower && upper {
		return "", nil, fmt.Errorf("%w: mixed case", errBech32)
	}
	s = strings.ToLower(s)
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, fmt.Errorf("%w: separator position", errBech32)
	}
	hrp := s[:pos]
	data := make([]byte, 0, len(s)-pos-1)
	for i := pos + 1; i < len(s); i++ {
		d := strings.IndexByte(bech32Charset, s[i])
		if d < 0 {
			return "", nil, fmt.Errorf("%w: character %q", errBech32, s[i])
		}
		data = append(data, byte(d))
	}
	if bech32Polymod(append(bech32HRPExpand(hrp), data...)) != 1 {
		return "", nil, fmt.Errorf("%w: checksum", errBech32)
	}
	return hrp, data[:len(data)-6], nil
}

// bech32Decode decodes s into its human-readable part and 8-bit data.
func bech32Decode(s string) (string, []byte, error) {
	hrp, data5, err := bech32Decode5(s)
	if err != nil {
		return "", nil, err
	}
	data, err := convertBits(data5, 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}
