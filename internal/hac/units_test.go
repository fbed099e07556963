package hac

import "testing"

func TestUnits(t *testing.T) {
	type tc struct {
		in   any
		want int64 // -1: an error
	}
	cases := map[string]struct {
		parse func(any) (int64, error)
		cases []tc
	}{
		"size": {parseSize, []tc{
			{"512MB", 512e6}, {"1GiB", 1 << 30}, {"64k", 64e3}, {"64KiB", 64 << 10}, {"2 MiB", 2 << 20},
			{"1.5GB", 1.5e9}, {"100", 100}, {"100B", 100}, {int64(4096), 4096}, {"0.5KiB", 512},
			{"", -1}, {"MB", -1}, {"12parsec", -1}, {"-1GB", -1}, {"1e3MB", -1}, {"1.2.3MB", -1},
			{int64(-1), -1}, {1.5, -1}, {"9999999999TiB", -1}, {"0x10MB", -1},
		}},
		"cores": {parseCores, []tc{
			{int64(2), 2000}, {0.5, 500}, {"0.25", 250}, {"1", 1000}, {0.01, 10}, {int64(256), 256000}, {0.1, 100},
			{int64(0), -1}, {"-1", -1}, {0.005, -1}, {0.0005, -1}, {int64(257), -1}, {"lots", -1}, {"1e2", -1}, {true, -1},
			{"99999999999999999999999", -1},
		}},
		"bandwidth": {parseBandwidth, []tc{
			{"100Mbps", 100e6}, {"1Gbps", 1e9}, {"1.5 gbps", 1.5e9}, {"500kbps", 500e3}, {int64(8), 8},
			{"fast", -1}, {"nanmbps", -1}, {"100MB", -1}, {"1e300gbps", -1}, {"99999999gbps", -1},
		}},
		"tokens": {parseTokens, []tc{
			{"5vis", 5e6}, {"0.01 VIS", 1e4}, {"42uvis", 42}, {int64(7), 7}, {"0.000001vis", 1}, {"0.1vis", 100000},
			{"9000000000000vis", 9e18},
			{"0.0000001vis", -1}, {"1.5uvis", -1}, {"nanvis", -1}, {"infvis", -1}, {"5", -1}, {"-5vis", -1},
			{"10000000000000vis", -1}, {int64(-1), -1}, {"5 dollars", -1},
		}},
	}
	for name, c := range cases {
		for _, tc := range c.cases {
			got, err := c.parse(tc.in)
			switch {
			case tc.want == -1 && err == nil:
				t.Errorf("%s(%#v) = %d, want an error", name, tc.in, got)
			case tc.want != -1 && (err != nil || got != tc.want):
				t.Errorf("%s(%#v) = %d, %v; want %d", name, tc.in, got, err, tc.want)
			}
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		list []string
		want string
	}{
		{"memroy", []string{"cores", "memory", "disk"}, "memory"},
		{"Memory", []string{"cores", "memory"}, "memory"},
		{"imag", []string{"spacecore", "image"}, "image"},
		{"zzzzzz", []string{"cores", "memory"}, ""},
		{"dsk", []string{"cpu", "memory", "disk"}, "disk"},
		{"gpux", []string{"gpu"}, "gpu"},
		{"ab", []string{"gpu"}, ""},
	} {
		if got := suggest(tc.in, tc.list); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
