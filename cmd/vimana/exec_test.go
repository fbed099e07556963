package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
	"github.com/vistara-labs/vimana/internal/node"
	"golang.org/x/sys/unix"
)

// newDaemon inits a node home with free ports and starts its daemon.
func newDaemon(t *testing.T, bin string) (*daemon, node.Config) {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	d := &daemon{t: t, bin: bin, home: home}
	d.vimana("node", "init")
	cfg, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.Gateway.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.Metrics.Listen = ""
	if err := node.WriteConfig(home, cfg); err != nil {
		t.Fatal(err)
	}
	d.log, _ = os.Create(filepath.Join(dir, "daemon.log"))
	d.start()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Signal(syscall.SIGTERM)
			d.cmd.Wait()
		}
	})
	return d, cfg
}

// runTW starts a spacecore running `tw sleep` from a layout image and
// returns its id (removed when the test ends). flags go to `sc run` (e.g.
// --api URL: the node key then owns it).
func runTW(t *testing.T, d *daemon, name string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	img, err := image.Build(image.BuildOptions{Binary: imagetest.GoBinary(t, "./internal/hypercore/hypercoretest/tw"), Path: "/bin/tw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteLayout(img, filepath.Join(dir, "image"), "latest"); err != nil {
		t.Fatal(err)
	}
	hac := filepath.Join(dir, "hac.toml")
	os.WriteFile(hac, []byte(`[spacecore]
name = "`+name+`"
[image]
ref = "oci-layout:image"
command = ["/bin/tw", "sleep"]
[hardware]
cores = 0.5
memory = "64MiB"
disk = "64MiB"
[network]
egress = false
`), 0o644)
	var run struct{ ID string }
	if err := json.Unmarshal(d.vimana(append([]string{"sc", "run", hac, "-o", "json"}, flags...)...), &run); err != nil || run.ID == "" {
		t.Fatalf("sc run: %+v %v", run, err)
	}
	t.Cleanup(func() { exec.Command(d.bin, "--home", d.home, "sc", "rm", run.ID).Run() })
	return run.ID
}

// openPTY returns a pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// termReader collects a pty master's output for waitFor.
type termReader struct {
	lines chan string
	seen  strings.Builder
}

func readTerm(f *os.File) *termReader {
	r := &termReader{lines: make(chan string, 64)}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	return r
}

func (r *termReader) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(60 * time.Second) // turns a hang into a failure
	for !strings.Contains(r.seen.String(), s) {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("terminal closed before %q; got %q", s, r.seen.String())
			}
			r.seen.WriteString(l + "\n")
		case <-deadline:
			t.Fatalf("terminal never showed %q; got %q", s, r.seen.String())
		}
	}
}

// TestExecInteractive: `spacecore exec -it` through the real daemon and
// the sandbox provider, from a pseudo-terminal: the local terminal's size
// reaches the command, typed lines reach it, a window resize reaches it
// as SIGWINCH, and vimana exits with its code. Then over the signed TCP
// API with piped stdin, with and without a remote terminal.
func TestExecInteractive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the node daemon runs sandboxes: needs root; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("starts a real daemon; skipped with -short")
	}
	bin := buildVimana(t)
	d, cfg := newDaemon(t, bin)
	id := runTW(t, d, fmt.Sprintf("exec-%d", os.Getpid()))

	master, slave := openPTY(t)
	unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 101})
	cmd := exec.Command(bin, "--home", d.home, "sc", "exec", "-it", id, "--", "/bin/tw", "tty")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// The pty is the CLI's controlling terminal, so resizes send it SIGWINCH.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	slave.Close()
	term := readTerm(master)
	term.waitFor(t, "tty=true size=33x101")
	master.WriteString("hello\r")
	term.waitFor(t, "got: hello")
	unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 44, Col: 120})
	term.waitFor(t, "resized=44x120")
	master.WriteString("exit 3\r")
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exec -it exited with %v, want code 3; terminal %q", err, term.seen.String())
	}

	// Over TCP, signed with the node key (which owns what it creates there),
	// stdin piped.
	api := "http://" + cfg.API.Listen
	id = runTW(t, d, fmt.Sprintf("exec-tcp-%d", os.Getpid()), "--api", api)
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-i"}, "tty=false size=none\ngot: a\ngot: b\n"},
		{[]string{"-it"}, "tty=true size=24x80"},
	} {
		args := append(append([]string{"--home", d.home, "sc", "exec", "--api", api}, tc.flags...), id, "--", "/bin/tw", "tty")
		c := exec.Command(bin, args...)
		c.Stdin = strings.NewReader("a\nb\nexit 4\n")
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != 4 || !strings.Contains(strings.ReplaceAll(out.String(), "\r", ""), tc.want) {
			t.Errorf("exec %v over TCP: code %d, output %q; want 4 and %q", tc.flags, code, out.String(), tc.want)
		}
	}
	// The one-shot exec still works.
	if out := d.vimana("sc", "exec", id, "--", "/bin/tw", "echo", "once"); !strings.Contains(string(out), "once") {
		t.Errorf("non-interactive exec: %q", out)
	}
}
