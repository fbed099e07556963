package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestStoreProgressLines(t *testing.T) {
	// A terminal: one redrawn line (\r), the final one ends with a newline.
	var tty bytes.Buffer
	p := newProgress(&tty, "put", "b/k", 100<<20, false)
	p.tty = true
	p.update(50 << 20)
	p.update(100 << 20)
	p.done(nil)
	if out := tty.String(); !strings.HasPrefix(out, "\rput b/k [") || !strings.Contains(out, "100%") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("tty output %q", out)
	}
	// Not a terminal: no carriage returns, one final line.
	var plain bytes.Buffer
	p = newProgress(&plain, "get", "b/k", 10, false)
	p.update(5)
	p.update(10)
	p.done(nil)
	if out := plain.String(); strings.Contains(out, "\r") || strings.Count(out, "\n") != 1 || !strings.Contains(out, "100%") {
		t.Fatalf("plain output %q", out)
	}
	// Unknown size; quiet prints nothing.
	var q bytes.Buffer
	p = newProgress(&q, "put", "b/k", -1, true)
	p.update(3)
	p.done(nil)
	if q.Len() != 0 {
		t.Fatalf("quiet printed %q", q.String())
	}
}
