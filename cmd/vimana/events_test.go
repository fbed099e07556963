package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEventsCLI: `spacecore events -o json` against the real daemon
// prints a spacecore's lifecycle as JSON lines, in order.
func TestEventsCLI(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the node daemon runs sandboxes: needs root; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("starts a real daemon; skipped with -short")
	}
	bin := buildVimana(t)
	d, _ := newDaemon(t, bin)
	w := exec.Command(bin, "--home", d.home, "sc", "events", "-o", "json")
	stdout, _ := w.StdoutPipe()
	stderr, _ := w.StderrPipe()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if w.ProcessState == nil {
			w.Process.Kill()
			w.Wait()
		}
	})
	if l, err := bufio.NewReader(stderr).ReadString('\n'); err != nil || !strings.HasPrefix(l, "watching") {
		t.Fatalf("events stderr: %q %v", l, err)
	}
	lines := make(chan eventLine, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev eventLine
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				lines <- ev
			}
		}
	}()

	id := runTW(t, d, fmt.Sprintf("events-%d", os.Getpid()))
	d.vimana("sc", "stop", id, "--grace", "5")
	d.vimana("sc", "rm", id)
	var got []string
	for _, want := range []string{"created", "started", "stopped", "removed"} {
		var ev eventLine
		select {
		case ev = <-lines:
		case <-time.After(60 * time.Second): // turns a hang into a failure
			t.Fatalf("events so far %v; no %s", got, want)
		}
		got = append(got, ev.Type)
		if ev.ID != id || ev.Type != want || ev.Time == "" || ev.Phase == "" {
			t.Fatalf("events %v: last %+v, want %s of %s", got, ev, want, id)
		}
		if want == "stopped" && (ev.ExitCode == nil || ev.Reason == "") {
			t.Errorf("stopped without exit code or reason: %+v", ev)
		}
	}
	w.Process.Signal(syscall.SIGINT)
	if err := w.Wait(); err != nil {
		t.Errorf("events after SIGINT: %v", err)
	}
}
