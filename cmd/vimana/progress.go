package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress reports bytes moved on stderr: a redrawn bar on a terminal,
// otherwise a plain line at most every 2 s (and at the end), nothing
// with --quiet.
type progress struct {
	w          io.Writer
	verb, what string
	total      int64 // -1: unknown
	tty, quiet bool
	start      time.Time
	last       time.Time
	n          int64
}

func newProgress(w io.Writer, verb, what string, total int64, quiet bool) *progress {
	now := time.Now()
	p := &progress{w: w, verb: verb, what: what, total: total, quiet: quiet, start: now, last: now}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) update(n int64) {
	p.n = n
	if p.quiet {
		return
	}
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && n != p.total {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "\r%s", p.line(now))
		return
	}
	if now.Sub(p.last) < 2*time.Second || n == p.total { // the end is done's line
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "  %s\n", p.line(now))
}

func (p *progress) line(now time.Time) string {
	rate := float64(p.n) / max(now.Sub(p.start).Seconds(), 1e-3) / (1 << 20)
	if p.total <= 0 {
		return fmt.Sprintf("%s %s  %s  %.1f MiB/s", p.verb, p.what, mib(p.n), rate)
	}
	const width = 30
	frac := min(float64(p.n)/float64(p.total), 1)
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	return fmt.Sprintf("%s %s [%s] %3.0f%%  %s / %s  %.1f MiB/s", p.verb, p.what, bar, frac*100, mib(p.n), mib(p.total), rate)
}

// done ends the bar's line; on success without a terminal it prints the
// final plain line.
func (p *progress) done(err error) {
	if p.quiet {
		return
	}
	if p.tty {
		if err == nil {
			fmt.Fprintf(p.w, "\r%s\n", p.line(time.Now()))
		} else {
			fmt.Fprintln(p.w)
		}
		return
	}
	if err == nil {
		fmt.Fprintf(p.w, "  %s\n", p.line(time.Now()))
	}
}
