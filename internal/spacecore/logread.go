package spacecore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
)

// reader serves a spacecore's log: the last tail lines (all kept lines
// when tail < 0), then, with follow, new lines as they come until ctx
// ends or the spacecore stops for good. A follower that falls more than
// the in-memory tail behind gets a marker line instead of what it missed.
func (k *sink) reader(ctx context.Context, follow bool, tail int) io.ReadCloser {
	k.mu.Lock()
	from := k.seq // first line the follower reads from the ring
	var files []io.Reader
	var closers []io.Closer
	var lines [][]byte
	if tail >= 0 && tail <= len(k.ring) {
		n := min(uint64(tail), k.seq, uint64(len(k.ring)))
		for s := k.seq - n; s < k.seq; s++ {
			lines = append(lines, k.ring[s%uint64(len(k.ring))])
		}
	} else {
		// Open every file now, with the current one cut at its last
		// complete line: renames by rotation do not affect open files,
		// and the rest comes from the ring.
		for n := k.cfg.MaxFiles; n >= 0; n-- {
			f, err := os.Open(k.path(n))
			if err != nil {
				continue
			}
			closers = append(closers, f)
			if n == 0 {
				files = append(files, io.LimitReader(f, k.size-int64(len(k.partial))))
			} else {
				files = append(files, f)
			}
		}
	}
	k.mu.Unlock()

	pr, pw := io.Pipe()
	// Ending ctx ends the stream (EOF) even while a write is blocked on a
	// reader that stopped reading.
	stop := context.AfterFunc(ctx, func() { pw.Close() })
	go func() {
		defer stop()
		defer func() {
			for _, c := range closers {
				c.Close()
			}
		}()
		if len(files) > 0 {
			if err := copyTail(pw, io.MultiReader(files...), tail); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		for _, l := range lines {
			if _, err := pw.Write(l); err != nil {
				return
			}
		}
		if follow {
			pw.CloseWithError(k.follow(ctx, pw, from))
			return
		}
		pw.Close()
	}()
	return pr
}

// copyTail copies the last tail lines of r (all of it when tail < 0).
func copyTail(w io.Writer, r io.Reader, tail int) error {
	if tail < 0 {
		_, err := io.Copy(w, r)
		return err
	}
	ring := make([][]byte, tail)
	n := 0
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && tail > 0 {
			ring[n%tail] = line
			n++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	for i := max(0, n-tail); i < n; i++ {
		if _, err := w.Write(ring[i%tail]); err != nil {
			return err
		}
	}
	return nil
}

// follow streams lines from seq next on; it returns nil when the sink is
// no longer live and drained, or when ctx ends.
func (k *sink) follow(ctx context.Context, w io.Writer, next uint64) error {
	for {
		k.mu.Lock()
		var batch [][]byte
		var skipped uint64
		if oldest := k.seq - min(k.seq, uint64(len(k.ring))); next < oldest {
			skipped, next = oldest-next, oldest
		}
		for ; next < k.seq; next++ {
			batch = append(batch, k.ring[next%uint64(len(k.ring))])
		}
		done := !k.live || k.gone
		wait := k.notify
		k.mu.Unlock()

		if skipped > 0 {
			if _, err := fmt.Fprintf(w, "[vimana: %d log lines skipped: reader too slow]\n", skipped); err != nil {
				return nil
			}
		}
		for _, l := range batch {
			if _, err := w.Write(l); err != nil {
				return nil // the reader went away
			}
		}
		if len(batch) > 0 {
			continue
		}
		if done {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil
		}
	}
}
