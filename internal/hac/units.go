package hac

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Quantities are parsed as exact decimals (math/big), not floats: "0.1vis"
// is exactly 100000 uvis, and amounts near the int64 limit do not round.

// decimal reads an unsigned decimal number ("12", "0.5", "1.25") exactly.
// Exponents, signs, hex and fractions like "1/3" are refused.
func decimal(s string) (*big.Rat, bool) {
	if s == "" || s == "." || strings.Count(s, ".") > 1 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return nil, false
		}
	}
	return new(big.Rat).SetString(s)
}

// scale returns r×mult as an int64, truncated toward zero when exact is
// false; ok is false on overflow or, with exact, a fractional result.
func scale(r *big.Rat, mult int64, exact bool) (int64, bool) {
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt64(mult))
	if exact && !x.IsInt() {
		return 0, false
	}
	n := new(big.Int).Quo(x.Num(), x.Denom())
	if !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

// splitNumber splits "512 MB" into "512" and "mb".
func splitNumber(s string) (num, unit string) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
}

// sizeUnits are decimal (powers of 1000) and binary (powers of 1024); the
// trailing "b" is optional ("64k", "64kb", "64KiB").
var sizeUnits = map[string]int64{
	"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
	"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40,
}

// parseSize reads "512MB", "1GiB", "1.5 GB", "64k", or an integer (bytes).
// Fractions of a byte are dropped.
func parseSize(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("%d: must not be negative", x)
		}
		return x, nil
	case string:
		num, unit := splitNumber(x)
		r, ok := decimal(num)
		if !ok {
			return 0, fmt.Errorf("%q is not a size (want e.g. \"512MB\", \"1GiB\" or an integer number of bytes)", x)
		}
		mult, ok := sizeUnits[strings.TrimSuffix(unit, "b")]
		if !ok {
			return 0, fmt.Errorf("%q has an unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", x, unit)
		}
		n, ok := scale(r, mult, false)
		if !ok || n > 1<<60 {
			return 0, fmt.Errorf("%q is too large", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a size like \"512MB\" or an integer number of bytes, got %s", typeName(v))
}

// parseCores reads 2, 0.5 or "0.5" into milli-cores (1000 = one core).
func parseCores(v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("want a number of cores like 2 or 0.5")
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, fmt.Errorf("want a number of cores like 2 or 0.5, got %s", typeName(v))
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%s cores: must be more than 0", s)
	}
	r, ok := decimal(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a number of cores (want e.g. 2 or 0.5)", s)
	}
	m, ok := scale(r, 1000, true)
	switch {
	case !ok && r.Cmp(big.NewRat(256, 1)) <= 0:
		return 0, fmt.Errorf("%s cores is finer than a thousandth of a core", s)
	case !ok || m > 256000:
		return 0, fmt.Errorf("%s cores is more than the limit of 256", s)
	case m < 10:
		return 0, fmt.Errorf("%s cores is less than the minimum of 0.01", s)
	}
	return m, nil
}

var rateUnits = []struct {
	suffix string
	mult   int64
}{{"gbps", 1e9}, {"mbps", 1e6}, {"kbps", 1e3}, {"bps", 1}}

// parseBandwidth reads "100Mbps", "1Gbps", "500kbps" or an integer (bits
// per second).
func parseBandwidth(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("%d: must not be negative", x)
		}
		return x, nil
	case string:
		num, unit := splitNumber(x)
		for _, u := range rateUnits {
			if unit != u.suffix {
				continue
			}
			if r, ok := decimal(num); ok {
				if n, ok := scale(r, u.mult, false); ok && n <= 1e15 {
					return n, nil
				}
				return 0, fmt.Errorf("%q is too large", x)
			}
		}
		return 0, fmt.Errorf("%q is not a rate (want e.g. \"100Mbps\", \"1Gbps\", \"500kbps\")", x)
	}
	return 0, fmt.Errorf("want a rate like \"100Mbps\", got %s", typeName(v))
}

// UVISPerVIS is the token's subdivision: 1 VIS = 10^6 uvis.
const UVISPerVIS = 1_000_000

// parseTokens reads "5vis", "2.5 VIS", "5000000uvis" or an integer (uvis).
// An amount finer than 1 uvis is an error, not a rounding.
func parseTokens(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("%d: must not be negative", x)
		}
		return x, nil
	case string:
		num, unit := splitNumber(x)
		mult := map[string]int64{"uvis": 1, "vis": UVISPerVIS}[unit]
		r, ok := decimal(num)
		if mult == 0 || !ok {
			return 0, fmt.Errorf("%q is not a token amount (want e.g. \"5vis\", \"0.25vis\" or \"5000000uvis\")", x)
		}
		n, ok := scale(r, mult, true)
		if !ok {
			if _, fits := scale(r, mult, false); fits {
				return 0, fmt.Errorf("%q is finer than 1 uvis (1 VIS = 10^6 uvis)", x)
			}
			return 0, fmt.Errorf("%q is too large", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a token amount like \"5vis\" or an integer number of uvis, got %s", typeName(v))
}

// ParseTokens reads a token amount as hac.toml does ("5vis", "0.01 VIS",
// "5000000uvis", or a plain integer of uvis) and returns uvis.
func ParseTokens(s string) (int64, error) {
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		return parseTokens(n)
	}
	return parseTokens(s)
}

// ParseSize reads a size as hac.toml does ("512MB", "1GiB", or bytes).
func ParseSize(s string) (int64, error) {
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		return parseSize(n)
	}
	return parseSize(s)
}
