package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

// TestDevnetRegistry: `devnet up` runs a registry process holding the
// hello image, the node pulls and runs it by the recorded digest
// reference, `devnet down` stops the registry, and after the next `up`
// the registry still serves that digest.
func TestDevnetRegistry(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("devnet nodes run the sandbox supervisor: needs root; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("starts node and registry processes; skipped with -short")
	}
	bin := buildVimana(t)
	hello := imagetest.GoBinary(t, "./examples/hello")
	dir := filepath.Join(t.TempDir(), "devnet")
	up := func(args ...string) {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"devnet", "up", "--nodes", "1", "--home", dir}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("devnet up: %v\n%s", err, out)
		}
	}
	t.Cleanup(func() { exec.Command(bin, "devnet", "down", "--home", dir).Run() })
	up("--hello-binary", hello)
	d := devnetStatus(t, bin, dir)
	if d.Registry == nil || !d.Registry.Alive || !strings.HasPrefix(d.Hello, d.Registry.Addr+"/hello@sha256:") {
		t.Fatalf("devnet registry %+v, hello %q", d.Registry, d.Hello)
	}
	want, _ := strings.CutPrefix(d.Hello, d.Registry.Addr+"/hello@")
	pullDigest := func() string {
		t.Helper()
		s, err := image.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		img, err := s.Pull(t.Context(), d.Hello, image.PullOptions{})
		if err != nil {
			t.Fatalf("pulling %s: %v", d.Hello, err)
		}
		return img.Digest
	}
	if got := pullDigest(); got != want {
		t.Fatalf("registry serves %s for %s", got, d.Hello)
	}

	// The node pulls the hello image from the registry and runs it.
	hac := filepath.Join(t.TempDir(), "hac.toml")
	os.WriteFile(hac, []byte(`[spacecore]
name = "hello-registry"
[image]
ref = "`+d.Hello+`"
[hardware]
cores = 0.5
memory = "64MiB"
disk = "64MiB"
[network]
ports = [{ port = 8080 }]
`), 0o644)
	out, err := exec.Command(bin, "--home", dir, "spacecore", "run", hac, "-o", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("spacecore run: %v\n%s", err, out)
	}
	var run struct{ ID, URL string }
	if err := json.Unmarshal(out, &run); err != nil || run.URL == "" {
		t.Fatalf("spacecore run -o json: %v\n%s", err, out)
	}
	if body := get(t, run.URL, ""); !strings.Contains(strings.ToLower(body), "hello") {
		t.Errorf("GET %s = %q", run.URL, body)
	}
	// Removed here rather than left to `devnet down`, so a slow machine
	// cannot leave its sandbox behind in the test's temp dir.
	if out, err := exec.Command(bin, "--home", dir, "spacecore", "rm", run.ID).CombinedOutput(); err != nil {
		t.Fatalf("spacecore rm: %v\n%s", err, out)
	}

	if out, err := exec.Command(bin, "devnet", "down", "--home", dir).CombinedOutput(); err != nil {
		t.Fatalf("devnet down: %v\n%s", err, out)
	}
	if d := devnetStatus(t, bin, dir); d.Registry.Alive {
		t.Fatalf("registry pid %d still alive after down", d.Registry.Pid)
	}
	// Restart without a hello binary: the registry keeps what it had.
	up("--hello-binary", "none")
	d2 := devnetStatus(t, bin, dir)
	if !d2.Registry.Alive || d2.Registry.Addr != d.Registry.Addr || d2.Registry.Pid == d.Registry.Pid {
		t.Fatalf("registry after restart: %+v (before %+v)", d2.Registry, d.Registry)
	}
	if got := pullDigest(); got != want {
		t.Fatalf("after restart the registry serves %s for %s", got, d.Hello)
	}
}
