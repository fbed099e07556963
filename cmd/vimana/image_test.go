package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

// vimana runs the CLI in-process (commands share the globals, so these
// tests are not parallel).
func vimana(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func mustVimana(t *testing.T, args ...string) string {
	t.Helper()
	out, err := vimana(t, args...)
	if err != nil {
		t.Fatalf("vimana %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestImageCLI walks build -> push/layout -> pull -> ls -> inspect -> rm.
func TestImageCLI(t *testing.T) {
	home := t.TempDir()
	hello := imagetest.GoBinary(t, "./examples/hello")
	host := imagetest.Registry(t)
	layoutDir := filepath.Join(t.TempDir(), "image")

	var built struct{ Digest, Ref string }
	out := mustVimana(t, "--home", home, "image", "build", "--binary", hello, "--entrypoint", "/hello", "--port", "8080",
		"--env", "GREETING=a,b", "--output", "oci-layout:"+layoutDir+":v1", "-o", "json")
	if err := json.Unmarshal([]byte(out), &built); err != nil || !strings.HasPrefix(built.Digest, "sha256:") {
		t.Fatalf("build -o json: %q %v", out, err)
	}
	mustVimana(t, "--home", home, "image", "build", "--binary", hello, "--entrypoint", "/hello", "--port", "8080",
		"--env", "GREETING=a,b", "--push", host+"/hello:v1")

	for _, ref := range []string{"oci-layout:" + layoutDir + ":v1", host + "/hello:v1", host + "/hello@" + built.Digest} {
		var img image.Image
		out := mustVimana(t, "--home", home, "-o", "json", "image", "pull", ref)
		if err := json.Unmarshal([]byte(out), &img); err != nil || img.Digest != built.Digest {
			t.Fatalf("pull %s: %q %v", ref, out, err)
		}
		if want := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=a,b"}; strings.Join(img.Config.Env, " ") != strings.Join(want, " ") {
			t.Errorf("env = %q", img.Config.Env)
		}
	}
	var list []image.Image
	if err := json.Unmarshal([]byte(mustVimana(t, "--home", home, "-o", "json", "image", "ls")), &list); err != nil || len(list) != 1 {
		t.Fatalf("ls: %v %v", list, err)
	}
	if out := mustVimana(t, "--home", home, "image", "ls"); !strings.Contains(out, built.Digest[:19]) {
		t.Errorf("ls table:\n%s", out)
	}
	var detail struct{ Refs []string }
	if err := json.Unmarshal([]byte(mustVimana(t, "--home", home, "image", "inspect", host+"/hello:v1")), &detail); err != nil || len(detail.Refs) != 3 {
		t.Errorf("inspect refs = %v, %v", detail.Refs, err)
	}
	mustVimana(t, "--home", home, "image", "rm", built.Digest[7:19])
	if out := mustVimana(t, "--home", home, "-o", "json", "image", "ls"); strings.TrimSpace(out) != "[]" {
		t.Errorf("ls after rm: %s", out)
	}
	if _, err := vimana(t, "--home", home, "image", "inspect", built.Digest); err == nil {
		t.Error("inspect after rm succeeded")
	}
	if _, err := vimana(t, "--home", home, "image", "build", "--binary", hello); err == nil {
		t.Error("build without a destination succeeded")
	}
}
