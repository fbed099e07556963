// Package hypercoretest is the conformance suite every hypercore provider
// runs (sandbox, gvisor, microvm, fake), plus the test workload rootfs it
// uses. It is imported only by tests and the bench/ harnesses.
package hypercoretest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// TW is the path of the test workload inside WorkloadRootFS.
const TW = "/bin/tw"

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// WorkloadRootFS returns a directory holding a minimal root filesystem with
// the static test workload at /bin/tw (see ./tw). It is built once per
// process into a cache directory keyed by the workload's source hash, so
// repeated runs reuse it; callers must treat it as read-only.
func WorkloadRootFS(t testing.TB) string {
	t.Helper()
	dir, err := BuildWorkloadRootFS()
	if err != nil {
		t.Fatalf("building workload rootfs: %v", err)
	}
	return dir
}

// BuildWorkloadRootFS is WorkloadRootFS for programs (bench/) that have no
// testing.TB. It needs the go tool and this source tree.
func BuildWorkloadRootFS() (string, error) {
	rootfsOnce.Do(func() { rootfsDir, rootfsErr = buildRootFS() })
	return rootfsDir, rootfsErr
}

func buildRootFS() (string, error) {
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "tw")
	code, err := os.ReadFile(filepath.Join(src, "main.go"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(code, runtime.Version()...))
	dir := filepath.Join(os.TempDir(), "vimana-tw-rootfs-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, "bin", "tw")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "vimana-tw-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(filepath.Join(tmp, "tmp"), 0o1777); err != nil {
		return "", err
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/tw\nnobody:x:65534:65534:nobody:/:/bin/tw\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(tmp, "bin", "tw"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build tw: %v\n%s", err, out)
	}
	// Publish atomically: a concurrent process may have won the race.
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "bin", "tw")); serr == nil {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}
