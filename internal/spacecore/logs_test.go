package spacecore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testSink(t *testing.T, dir string, cfg LogConfig) *sink {
	t.Helper()
	cfg.fill()
	k, err := openSink(dir, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.close(false) })
	return k
}

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %03d\n", i)
	}
	return b.String()
}

func TestSinkRotation(t *testing.T) {
	dir := t.TempDir()
	k := testSink(t, dir, LogConfig{MaxFileSize: 100, MaxFiles: 2, TailLines: 5})
	for i := range 50 { // 9 bytes a line: 450 bytes, > 3 files' worth
		k.Write([]byte(lines(i, i+1)))
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "spacecore.log,spacecore.log.1,spacecore.log.2" {
		t.Fatalf("files = %v, want the current one and 2 rotated", names)
	}
	for _, n := range names {
		if fi, _ := os.Stat(filepath.Join(dir, n)); fi.Size() > 100 {
			t.Errorf("%s is %d bytes, over the limit", n, fi.Size())
		}
	}
	all := readAll(t, k.reader(context.Background(), false, -1), nil)
	if !strings.HasSuffix(all, lines(40, 50)) || strings.Contains(all, "line 000") {
		t.Errorf("all kept lines = %q", all)
	}
	if strings.Count(all, "\n") > 33 {
		t.Errorf("kept %d lines, more than 3 files hold", strings.Count(all, "\n"))
	}
	tests := []struct {
		tail int
		want string
	}{
		{0, ""},
		{3, lines(47, 50)},
		{5, lines(45, 50)},  // the whole ring
		{12, lines(38, 50)}, // beyond the ring: from the files
	}
	for _, tt := range tests {
		if got := readAll(t, k.reader(context.Background(), false, tt.tail), nil); got != tt.want {
			t.Errorf("tail %d = %q, want %q", tt.tail, got, tt.want)
		}
	}
}

func TestSinkPartialLinesAndReload(t *testing.T) {
	dir := t.TempDir()
	k := testSink(t, dir, LogConfig{TailLines: 10})
	k.Write([]byte("one\ntw"))
	if got := readAll(t, k.reader(context.Background(), false, 10), nil); got != "one\n" {
		t.Errorf("tail with a partial line = %q", got)
	}
	if got := readAll(t, k.reader(context.Background(), false, -1), nil); got != "one\n" {
		t.Errorf("files with a partial line = %q", got)
	}
	k.Write([]byte("o\nthree"))
	k.setLive(false) // the workload ended without a newline
	if got := readAll(t, k.reader(context.Background(), false, 10), nil); got != "one\ntwo\nthree\n" {
		t.Errorf("tail = %q", got)
	}
	k.close(false)
	// A new daemon refills the tail from the file.
	k2 := testSink(t, dir, LogConfig{TailLines: 2})
	if got := readAll(t, k2.reader(context.Background(), false, 2), nil); got != "two\nthree\n" {
		t.Errorf("tail after reload = %q", got)
	}
}

func TestSinkFollow(t *testing.T) {
	k := testSink(t, t.TempDir(), LogConfig{TailLines: 4})
	k.setLive(true)
	k.Write([]byte(lines(0, 3)))
	rc := k.reader(context.Background(), true, 1)
	defer rc.Close()
	buf := make([]byte, 1024)
	n, _ := io.ReadAtLeast(rc, buf, len(lines(2, 3)))
	if got := string(buf[:n]); got != lines(2, 3) {
		t.Fatalf("first read = %q", got)
	}
	k.Write([]byte(lines(3, 5)))
	k.setLive(false)
	rest, err := io.ReadAll(rc)
	if err != nil || string(rest) != lines(3, 5) {
		t.Errorf("followed = %q, %v", rest, err)
	}
}

func TestSinkFollowSlowReaderAndCancel(t *testing.T) {
	k := testSink(t, t.TempDir(), LogConfig{TailLines: 4})
	k.setLive(true)
	ctx, cancel := context.WithCancel(context.Background())
	// The follower reads nothing yet while 10 lines go by: it loses what
	// fell out of the ring and is told so; the writer never waited.
	rc := k.reader(ctx, true, 0)
	k.Write([]byte(lines(0, 10)))
	buf := make([]byte, 4096)
	got := ""
	for !strings.Contains(got, "line 009") {
		n, err := rc.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, got)
		}
		got += string(buf[:n])
	}
	if !strings.Contains(got, "lines skipped") || !strings.HasSuffix(got, lines(6, 10)) {
		t.Errorf("slow follower got %q", got)
	}
	cancel()
	if _, err := io.ReadAll(rc); err != nil {
		t.Errorf("after cancel: %v, want a clean EOF", err)
	}
}

func TestCopyFromSkipsCopiedBytes(t *testing.T) {
	dir := t.TempDir()
	k := testSink(t, dir, LogConfig{})
	if err := k.copyFrom(strings.NewReader("a\nb\n"), 1); err != nil {
		t.Fatal(err)
	}
	// The same incarnation re-read from its start (a re-adoption): only
	// the new bytes are added.
	if err := k.copyFrom(strings.NewReader("a\nb\nc\n"), 1); err != nil {
		t.Fatal(err)
	}
	// A new incarnation starts from zero.
	if err := k.copyFrom(strings.NewReader("a\n"), 2); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, logName))
	if string(b) != "a\nb\nc\na\n" {
		t.Errorf("log file = %q", b)
	}
	if st := k.loadState(); st != (copyState{Incarnation: 2, Offset: 2}) {
		t.Errorf("copy state = %+v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, stateName+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary state file left: %v", err)
	}
}
