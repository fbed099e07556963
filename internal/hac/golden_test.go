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

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden is what a good/*.golden file holds.
type golden struct {
	Spec     *Spec                 `json:"spec"`
	Machine  hypercore.MachineSpec `json:"machine"`
	Warnings []string              `json:"warnings,omitempty"`
}

// portable strips this machine's directory from resolved image paths.
func portable(s string) string {
	wd, _ := os.Getwd()
	return strings.ReplaceAll(s, wd+string(filepath.Separator), "")
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	return files
}

// TestGoodGolden: good/X.toml parses to good/X.golden (Spec, MachineSpec,
// warnings) and formats to good/X.fmt.
func TestGoodGolden(t *testing.T) {
	for _, f := range glob(t, "testdata/good/*.toml") {
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
			base := strings.TrimSuffix(f, ".toml")
			checkGolden(t, base+".golden", portable(string(b))+"\n")
			data, _ := os.ReadFile(f)
			out, err := Format(f, data)
			if err != nil {
				t.Fatalf("Format: %v", err)
			}
			checkGolden(t, base+".fmt", string(out))
		})
	}
}

// TestBadGolden: bad/X.toml fails with exactly the text of bad/X.err, and
// every error is a located *Error wrapping hypercore.ErrInvalid.
func TestBadGolden(t *testing.T) {
	for _, f := range glob(t, "testdata/bad/*.toml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, _, err := ParseFile(f)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, hypercore.ErrInvalid) {
				t.Errorf("error does not wrap hypercore.ErrInvalid: %v", err)
			}
			for _, e := range located(err) {
				if e.File != f || e.Line == 0 || e.Col == 0 {
					t.Errorf("error without file:line:col: %#v", e)
				}
			}
			checkGolden(t, strings.TrimSuffix(f, ".toml")+".err", err.Error()+"\n")
		})
	}
}

// located returns the *Error values in err (nil when it holds none).
func located(err error) []*Error {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

func TestFormatIdempotent(t *testing.T) {
	for _, f := range glob(t, "testdata/good/*.toml") {
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
			t.Errorf("%s: Format is not idempotent:\n%s\n---\n%s", f, once, twice)
		}
		a, _, _ := Parse(f, data)
		b, warns, _ := Parse(f, once)
		if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
			t.Errorf("%s: Format changed the meaning:\n%s\n%s", f, ja, jb)
		}
		if len(warns) > 0 {
			t.Errorf("%s: formatted output still has warnings: %v", f, warns)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFormatRefusesInvalid(t *testing.T) {
	_, err := Format("x.toml", []byte("[spacecore]\nname = \"x\"\n"))
	if !errors.Is(err, hypercore.ErrInvalid) {
		t.Fatalf("Format of an invalid file: %v", err)
	}
}

// TestHelloExample keeps examples/hello/hac.toml valid and as documented.
func TestHelloExample(t *testing.T) {
	spec, warns, err := ParseFile("../../examples/hello/hac.toml")
	if err != nil || len(warns) > 0 {
		t.Fatalf("examples/hello/hac.toml: %v %v", err, warns)
	}
	ms := spec.MachineSpec()
	abs, _ := filepath.Abs("../../examples/hello/image")
	switch {
	case spec.Image.Ref != PrefixLayout+abs+":latest":
		t.Errorf("ref = %q", spec.Image.Ref)
	case ms.Resources.MilliCPU != 500 || ms.Resources.MemoryBytes != 64<<20:
		t.Errorf("resources = %+v", ms.Resources)
	case ms.Network.Egress || len(ms.Network.Ports) != 1 || ms.Network.Ports[0] != (hypercore.Port{Port: 8080, HostPort: 8080, Protocol: "tcp"}):
		t.Errorf("network = %+v", ms.Network)
	}
}
