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

// TestImagePushCLI: push from an OCI layout and from the cache prints the
// digest reference, which pulls back with the same digest.
func TestImagePushCLI(t *testing.T) {
	home := t.TempDir()
	hello := imagetest.GoBinary(t, "./examples/hello")
	host := imagetest.Registry(t)
	layoutDir := filepath.Join(t.TempDir(), "image")
	var built struct{ Digest string }
	out := mustVimana(t, "--home", home, "image", "build", "--binary", hello, "--entrypoint", "/hello",
		"--output", "oci-layout:"+layoutDir, "-o", "json")
	if err := json.Unmarshal([]byte(out), &built); err != nil {
		t.Fatal(err)
	}
	var pushed struct{ Ref string }
	out = mustVimana(t, "--home", home, "-o", "json", "image", "push", "oci-layout:"+layoutDir, host+"/hello:v1")
	if err := json.Unmarshal([]byte(out), &pushed); err != nil || pushed.Ref != host+"/hello@"+built.Digest {
		t.Fatalf("push -o json = %q (%v), want ref %s/hello@%s", out, err, host, built.Digest)
	}
	// Pull it back by digest into the cache, then push it from there by a
	// digest prefix to another repository.
	mustVimana(t, "--home", home, "image", "pull", pushed.Ref)
	out = mustVimana(t, "--home", home, "image", "push", built.Digest[7:19], host+"/copy")
	if !strings.HasPrefix(out, host+"/copy@"+built.Digest) {
		t.Fatalf("push from cache printed %q", out)
	}
	other := t.TempDir()
	var img image.Image
	if err := json.Unmarshal([]byte(mustVimana(t, "--home", other, "-o", "json", "image", "pull", host+"/copy@"+built.Digest)), &img); err != nil || img.Digest != built.Digest {
		t.Fatalf("pull back: %+v %v", img, err)
	}
	if _, err := vimana(t, "--home", home, "image", "push", "sha256:"+strings.Repeat("0", 64), host+"/x"); err == nil {
		t.Error("pushing an unknown digest succeeded")
	}
}
