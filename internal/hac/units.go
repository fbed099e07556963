package hac

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseSize reads "512MB", "1GiB", "64k", or a plain integer (bytes).
// Decimal suffixes are powers of 1000, binary ones (Ki, Mi, Gi, Ti) of
// 1024.
func parseSize(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("must not be negative")
		}
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || num == "" {
			return 0, fmt.Errorf("%q is not a size (want e.g. 512MB, 1GiB or bytes)", x)
		}
		mult, ok := sizeUnits[strings.TrimSuffix(unit, "b")]
		if !ok {
			if unit == "b" {
				mult, ok = 1, true
			}
		}
		if !ok {
			return 0, fmt.Errorf("%q has an unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", x, s[i:])
		}
		b := f * float64(mult)
		if b > math.MaxInt64/2 {
			return 0, fmt.Errorf("%q is too large", x)
		}
		return int64(b), nil
	}
	return 0, fmt.Errorf("want a size string like \"512MB\" or an integer number of bytes")
}

var sizeUnits = map[string]int64{
	"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
	"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40,
}

// parseCores reads 2, 0.5 or "0.5" into milli-cores.
func parseCores(v any) (int64, error) {
	var f float64
	switch x := v.(type) {
	case int64:
		f = float64(x)
	case float64:
		f = x
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, fmt.Errorf("%q is not a number of cores", x)
		}
	default:
		return 0, fmt.Errorf("want a number of cores like 2 or 0.5")
	}
	if math.IsNaN(f) || f <= 0 {
		return 0, fmt.Errorf("must be more than 0")
	}
	if f > 256 {
		return 0, fmt.Errorf("%g cores is more than the limit of 256", f)
	}
	m := int64(math.Round(f * 1000))
	if m < 10 {
		return 0, fmt.Errorf("%g cores is less than the minimum of 0.01", f)
	}
	return m, nil
}

// parseBandwidth reads "100Mbps", "1Gbps", "500kbps" (bits per second).
func parseBandwidth(v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		if n, ok := v.(int64); ok && n >= 0 {
			return n, nil
		}
		return 0, fmt.Errorf("want a rate like \"100Mbps\"")
	}
	l := strings.ToLower(strings.TrimSpace(s))
	mult := map[string]int64{"gbps": 1e9, "mbps": 1e6, "kbps": 1e3, "bps": 1}
	for _, suf := range []string{"gbps", "mbps", "kbps", "bps"} {
		if num, ok := strings.CutSuffix(l, suf); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || f < 0 {
				break
			}
			return int64(f * float64(mult[suf])), nil
		}
	}
	return 0, fmt.Errorf("%q is not a rate (want e.g. 100Mbps, 1Gbps)", s)
}

// parseTokens reads "5vis", "2.5 VIS", "5000000uvis" or an integer (uvis).
func parseTokens(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("must not be negative")
		}
		return x, nil
	case string:
		l := strings.ToLower(strings.ReplaceAll(x, " ", ""))
		if n, ok := strings.CutSuffix(l, "uvis"); ok {
			u, err := strconv.ParseInt(n, 10, 64)
			if err != nil || u < 0 {
				return 0, fmt.Errorf("%q: want a whole number of uvis", x)
			}
			return u, nil
		}
		if n, ok := strings.CutSuffix(l, "vis"); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f < 0 || f > 9e12 {
				return 0, fmt.Errorf("%q is not an amount of VIS", x)
			}
			return int64(math.Round(f * 1e6)), nil
		}
	}
	return 0, fmt.Errorf("want an amount like \"5vis\" or \"5000000uvis\"")
}
