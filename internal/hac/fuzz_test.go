package hac

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// FuzzParse: no input panics; every error wraps ErrInvalid and carries a
// line:col unless it is a plain decode failure; an accepted spec is within
// the limits and formats to an equivalent, stable file.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.toml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte("[hardware]\nmemory = 512\nkernel = 1\n[resources]\ncpu = 2"))
	f.Add([]byte("a.b.c = [[1], {x = 2}]\n[[network.ports]]\nport = 1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, _, err := Parse("fuzz.toml", data)
		if err != nil {
			if !errors.Is(err, hypercore.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			es := located(err)
			if len(es) == 0 {
				t.Fatalf("error is not a *Error: %#v", err)
			}
			for _, e := range es {
				plain := strings.HasPrefix(e.Msg, "decoding TOML: ")
				if (e.Line <= 0 || e.Col <= 0) && !plain {
					t.Fatalf("error without a position: %v", e)
				}
			}
			return
		}
		ms := spec.MachineSpec()
		if !nameRE.MatchString(ms.Name) || ms.Resources.MilliCPU < 10 || ms.Resources.MilliCPU > 256000 ||
			ms.Resources.MemoryBytes < 4<<20 || spec.Image.Ref == "" {
			t.Fatalf("accepted an invalid spec: %+v", ms)
		}
		once, err := Format("fuzz.toml", data)
		if err != nil {
			t.Fatalf("Format of a valid file: %v", err)
		}
		again, _, err := Parse("fuzz.toml", once)
		if err != nil {
			t.Fatalf("formatted output does not parse: %v\n%s", err, once)
		}
		if a, b := mustJSON(t, spec), mustJSON(t, again); a != b {
			t.Fatalf("Format changed the meaning:\n%s\n%s\n%s", a, b, once)
		}
		if twice, _ := Format("fuzz.toml", once); string(twice) != string(once) {
			t.Fatalf("Format is not idempotent:\n%s\n---\n%s", once, twice)
		}
	})
}
