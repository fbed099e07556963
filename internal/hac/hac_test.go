package hac

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

var update = flag.Bool("update", false, "rewrite golden files")

type golden struct {
	Spec     *Spec                 `json:"spec"`
	Machine  hypercore.MachineSpec `json:"machine"`
	Warnings []string              `json:"warnings,omitempty"`
}

// rel strips this machine's directory from resolved paths so golden files
// are portable.
func rel(s string) string {
	wd, _ := os.Getwd()
	return strings.ReplaceAll(s, wd+string(filepath.Separator), "")
}

func check(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGoodGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.toml")
	if len(files) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			spec, warns, err := ParseFile(f)
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			g := golden{Spec: spec, Machine: spec.MachineSpec()}
			for _, w := range warns {
				g.Warnings = append(g.Warnings, w.String())
			}
			b, _ := json.MarshalIndent(g, "", "  ")
			check(t, strings.TrimSuffix(f, ".toml")+".golden", rel(string(b))+"\n")
		})
	}
}

func TestBadGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.toml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, _, err := ParseFile(f)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, hypercore.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var he *Error
			if !errors.As(err, &he) || he.File != f {
				t.Errorf("error is not a located *Error: %#v", err)
			}
			check(t, strings.TrimSuffix(f, ".toml")+".err", err.Error()+"\n")
		})
	}
}

func TestEveryErrorHasAPosition(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.toml")
	for _, f := range files {
		_, _, err := ParseFile(f)
		var es Errors
		if !errors.As(err, &es) {
			var e *Error
			if errors.As(err, &e) {
				es = Errors{e}
			}
		}
		for _, e := range es {
			if e.Line == 0 {
				t.Errorf("%s: error without line:col: %v", f, e)
			}
		}
	}
}

func TestFormatIdempotent(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.toml")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		once, err := Format(f, data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		twice, err := Format(f, once)
		if err != nil {
			t.Fatalf("%s: formatted output does not parse: %v\n%s", f, err, once)
		}
		if string(once) != string(twice) {
			t.Errorf("%s: Format not idempotent:\n%s\n---\n%s", f, once, twice)
		}
		a, _, _ := Parse(f, data)
		b, _, _ := Parse(f, once)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s: Format changed the meaning:\n%s\n%s", f, ja, jb)
		}
	}
}

func TestUnits(t *testing.T) {
	sizes := map[string]int64{"512MB": 512e6, "1GiB": 1 << 30, "64k": 64e3, "2 MiB": 2 << 20, "100": 100, "1.5GB": 1.5e9}
	for in, want := range sizes {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "12parsec", "-1GB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
	cores := map[any]int64{int64(2): 2000, 0.5: 500, "0.25": 250}
	for in, want := range cores {
		if got, err := parseCores(in); err != nil || got != want {
			t.Errorf("parseCores(%v) = %d, %v", in, got, err)
		}
	}
	tokens := map[any]int64{"5vis": 5e6, "0.01 VIS": 1e4, "42uvis": 42, int64(7): 7}
	for in, want := range tokens {
		if got, err := parseTokens(in); err != nil || got != want {
			t.Errorf("parseTokens(%v) = %d, %v", in, got, err)
		}
	}
}

func TestSuggest(t *testing.T) {
	if s := suggest("memroy", []string{"cores", "memory", "disk"}); s != "memory" {
		t.Errorf("suggest = %q", s)
	}
	if s := suggest("zzzzzz", []string{"cores", "memory"}); s != "" {
		t.Errorf("suggest = %q, want none", s)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.toml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, _, err := Parse("fuzz.toml", data)
		if err != nil {
			if !errors.Is(err, hypercore.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		ms := spec.MachineSpec()
		if ms.Name == "" || ms.Resources.MilliCPU <= 0 || ms.Resources.MemoryBytes < 4<<20 {
			t.Fatalf("accepted an invalid spec: %+v", ms)
		}
	})
}
