package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
)

// buildVimana compiles the real binary (with seccomp) once per test run.
func buildVimana(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vimana")
	cmd := exec.Command("go", "build", "-tags", "seccomp", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRunHello is the "done when": `vimana run` of the hello
// example answers HTTP 200 on the host, and SIGINT leaves nothing behind.
func TestRunHello(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("vimana run needs root for the sandbox; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped with -short")
	}
	runHello(t, "sandbox", 30*time.Second)
}

// TestRunHelloMicroVM is TestRunHello with isolation = "microvm": the real
// binary (dynamically linked, with libseccomp) boots as the guest agent
// under QEMU (TCG on hosts without a working KVM).
func TestRunHelloMicroVM(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("vimana run needs root for the microvm provider; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("builds the real binary and boots a VM; skipped with -short")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed (scripts/setup.sh installs it)")
	}
	if os.Getenv("VIMANA_MICROVM_CACHE") == "" {
		t.Setenv("VIMANA_MICROVM_CACHE", "/var/cache/vimana/microvm") // one kernel download per host
	}
	runHello(t, "microvm", 2*time.Minute)
}

// TestRunHelloGVisor is TestRunHello with isolation = "gvisor": the same
// image under Debian's runsc.
func TestRunHelloGVisor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("vimana run needs root for the gvisor provider; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped with -short")
	}
	if _, err := exec.LookPath("runsc"); err != nil {
		t.Skip("runsc not installed (scripts/setup.sh installs it)")
	}
	runHello(t, "gvisor", time.Minute)
}

// buildAgent compiles the standalone guest agent next to bin, where the microvm
// provider looks for it.
func buildAgent(t *testing.T, bin string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(filepath.Dir(bin), "vimana-agent"), "../../internal/hypercore/microvm/agent/vimana-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build vimana-agent: %v\n%s", err, out)
	}
}

// runHello runs examples/hello with `vimana run` at one isolation level,
// GETs it, stops it with SIGINT and checks that nothing is left.
func runHello(t *testing.T, isolation string, timeout time.Duration) {
	bin := buildVimana(t)
	if isolation == "microvm" {
		buildAgent(t, bin)
	}
	dir := t.TempDir()
	hello := imagetest.GoBinary(t, "./examples/hello")
	img, err := image.Build(image.BuildOptions{Binary: hello, Path: "/hello", Ports: []string{"8080"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteLayout(img, filepath.Join(dir, "image"), "latest"); err != nil {
		t.Fatal(err)
	}
	hostPort := freePort(t)
	src, err := os.ReadFile("../../examples/hello/hac.toml")
	if err != nil {
		t.Fatal(err)
	}
	hacFile := filepath.Join(dir, "hac.toml")
	body := strings.Replace(string(src), "host_port = 8080", fmt.Sprintf("host_port = %d", hostPort), 1)
	body = strings.Replace(body, "[hardware]\n", fmt.Sprintf("[hardware]\nisolation = %q\n", isolation), 1)
	if err := os.WriteFile(hacFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	cmd := exec.Command(bin, "--home", home, "run", hacFile, "-o", "json")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	events := json.NewDecoder(bufio.NewReader(stdout))
	var started runEvent
	if err := events.Decode(&started); err != nil || started.Event != "started" {
		t.Fatalf("first event = %+v, %v; stderr:\n%s", started, err, stderr.String())
	}
	if len(started.URLs) != 1 || !strings.Contains(started.URLs[0], fmt.Sprint(hostPort)) {
		t.Fatalf("URLs = %v, want one on port %d", started.URLs, hostPort)
	}
	var resp *http.Response
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Get(started.URLs[0]); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("GET %s: %v", started.URLs[0], err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "hello from hello") {
		t.Fatalf("GET = %d %q", resp.StatusCode, b)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("vimana run after SIGINT: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("vimana run did not stop after SIGINT")
	}
	// Nothing left: no machine state, no firewall rules, port free again.
	ents, _ := os.ReadDir(filepath.Join(home, "hypercore", isolation, "machines"))
	if len(ents) != 0 {
		t.Errorf("machines left after SIGINT: %v", ents)
	}
	if out, err := exec.Command("iptables-save").Output(); err == nil && strings.Contains(string(out), "vimana:"+started.ID) {
		t.Errorf("firewall rules of %s left behind", started.ID)
	}
	if _, err := http.Get(started.URLs[0]); err == nil {
		t.Errorf("%s still answers after SIGINT", started.URLs[0])
	}
}

func TestHacValidateExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary; skipped with -short")
	}
	bin := buildVimana(t)
	bad := filepath.Join(t.TempDir(), "hac.toml")
	os.WriteFile(bad, []byte("[spacecore]\nname = \"x\"\n[image]\nref = \"a/b:c\"\n[hardware]\nmemroy = \"1GB\"\n"), 0o644)
	out, err := exec.Command(bin, "hac", "validate", bad).CombinedOutput()
	var ee *exec.ExitError
	if !(errAs(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("validate of a bad file: %v, want exit 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "hac.toml:6:1: hardware.memroy: unknown key; did you mean \"memory\"?") {
		t.Errorf("output lacks the located error:\n%s", out)
	}
	good := "../../examples/hello/hac.toml"
	if out, err := exec.Command(bin, "hac", "validate", good).CombinedOutput(); err != nil {
		t.Fatalf("validate hello: %v\n%s", err, out)
	}
}

func errAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
