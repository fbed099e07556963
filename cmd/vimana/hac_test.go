package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hacCLI runs vimana in-process and returns stdout, stderr and the error.
func hacCLI(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestHacValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	legacy := filepath.Join(dir, "legacy.toml")
	os.WriteFile(bad, []byte("[spacecore]\nname = \"x\"\n[image]\nref = \"a/b\"\n[hardware]\nmemory = \"1MB\"\n"), 0o644)
	os.WriteFile(legacy, []byte("[spacecore]\nname = \"x\"\ncontainer_image = \"a/b\"\n"), 0o644)
	hello := "../../examples/hello/hac.toml"

	out, errOut, err := hacCLI("hac", "validate", hello, legacy, bad)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 {
		t.Fatalf("err = %v, want exit status 1", err)
	}
	for _, want := range []string{hello + ": ok", legacy + ": ok", bad + ": 1 error(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		"error: " + bad + ":6:10: hardware.memory: 1000000 bytes is less than the minimum of 4MiB",
		"warning: " + legacy + ":3:1: spacecore.container_image: legacy key; write image.ref instead",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	out, _, err = hacCLI("hac", "validate", "-o", "json", hello, bad)
	var res []validation
	if !errors.As(err, &ec) || json.Unmarshal([]byte(out), &res) != nil || len(res) != 2 || !res[0].OK || res[1].OK || len(res[1].Errors) != 1 {
		t.Errorf("json: %v %+v\n%s", err, res, out)
	}
	if _, _, err := hacCLI("hac", "validate", hello); err != nil {
		t.Errorf("validate hello: %v", err)
	}
}

func TestHacFmt(t *testing.T) {
	f := filepath.Join(t.TempDir(), "hac.toml")
	src := "# old\n[resources]\ncpu = \"2\"\n[spacecore]\ncontainer_image = \"a/b:1\"\nname = \"x\"\n"
	os.WriteFile(f, []byte(src), 0o600)
	want := "[spacecore]\nname = \"x\"\n\n[image]\nref = \"a/b:1\"\n\n[hardware]\ncores = \"2\"\n"
	out, _, err := hacCLI("hac", "fmt", f)
	if err != nil || out != want {
		t.Fatalf("fmt: %v\n%q\nwant\n%q", err, out, want)
	}
	if b, _ := os.ReadFile(f); string(b) != src {
		t.Fatal("fmt without -w changed the file")
	}
	if _, _, err := hacCLI("hac", "fmt", "-w", f); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f)
	fi, _ := os.Stat(f)
	if string(b) != want || fi.Mode().Perm() != 0o600 {
		t.Errorf("after -w: %q mode %v", b, fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(f), ".hac-fmt-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	os.WriteFile(f, []byte("[spacecore]\nname = 1\n"), 0o600)
	if _, _, err := hacCLI("hac", "fmt", "-w", f); err == nil || !strings.Contains(err.Error(), "hac.toml:2:8: spacecore.name") {
		t.Errorf("fmt of a bad file: %v", err)
	}
}

func TestHacSchema(t *testing.T) {
	out, _, err := hacCLI("hac", "schema")
	if err != nil || !strings.Contains(out, "hardware.memory") || !strings.Contains(out, "default 256MiB") {
		t.Fatalf("schema: %v\n%s", err, out)
	}
	out, _, err = hacCLI("hac", "schema", "-o", "json")
	var fields []struct {
		Key      string `json:"key"`
		Children []struct {
			Key string `json:"key"`
		} `json:"children"`
	}
	if err != nil || json.Unmarshal([]byte(out), &fields) != nil || len(fields) == 0 || fields[0].Key != "spacecore" {
		t.Fatalf("schema -o json: %v\n%s", err, out)
	}
}
