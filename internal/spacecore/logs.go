package spacecore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LogConfig bounds what the supervisor keeps of a spacecore's output.
type LogConfig struct {
	// MaxFileSize is the size at which spacecore.log is rotated; default 10 MiB.
	MaxFileSize int64
	// MaxFiles is how many rotated files (spacecore.log.1 ...) are kept; default 3.
	MaxFiles int
	// TailLines is the in-memory tail per spacecore; default 1000.
	TailLines int
}

func (c *LogConfig) fill() {
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = 10 << 20
	}
	if c.MaxFiles <= 0 {
		c.MaxFiles = 3
	}
	if c.TailLines <= 0 {
		c.TailLines = 1000
	}
}

const (
	logName   = "spacecore.log"
	stateName = "copy.json"
	// stateEvery throttles the copy-offset file: after a daemon crash at
	// most this much output is copied twice.
	stateEvery = time.Second
	// reloadBytes is how much of the current file refills the tail when a
	// sink is opened after a daemon restart.
	reloadBytes = 256 << 10
)

// sink is one spacecore's log: the current file plus rotated ones under
// dir, and a ring of the last lines with sequence numbers that followers
// read without ever blocking the writer.
type sink struct {
	dir string
	cfg LogConfig
	log *slog.Logger

	mu      sync.Mutex
	f       *os.File
	size    int64
	ring    [][]byte // ring[seq%len] holds line seq (with its newline)
	seq     uint64   // number of complete lines ever added
	partial []byte   // bytes after the last newline
	notify  chan struct{}
	live    bool // output may still come; followers wait for it
	gone    bool // removed
	fileErr bool // a file error was logged already
}

// copyState records how far the provider's log of one incarnation has
// been copied, so a re-adopted machine's log is not copied twice.
type copyState struct {
	Incarnation int64 `json:"incarnation"`
	Offset      int64 `json:"offset"`
}

func openSink(dir string, cfg LogConfig, log *slog.Logger) (*sink, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("opening log dir: %w", err)
	}
	k := &sink{dir: dir, cfg: cfg, log: log, ring: make([][]byte, cfg.TailLines), notify: make(chan struct{})}
	k.reload()
	f, err := os.OpenFile(k.path(0), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	k.f, k.size = f, fi.Size()
	return k, nil
}

// path returns spacecore.log for 0 and spacecore.log.N for N.
func (k *sink) path(n int) string {
	if n == 0 {
		return filepath.Join(k.dir, logName)
	}
	return filepath.Join(k.dir, fmt.Sprintf("%s.%d", logName, n))
}

// reload refills the ring from the end of the current file.
func (k *sink) reload() {
	f, err := os.Open(k.path(0))
	if err != nil {
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return
	}
	off := max(0, fi.Size()-reloadBytes)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:] // drop the cut line
		}
	}
	k.addLines(b)
	if len(k.partial) > 0 {
		k.endLine()
	}
}

// Write appends p to the file (rotating first when full) and to the ring.
func (k *sink) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gone {
		return 0, os.ErrClosed
	}
	if k.f != nil && k.size > 0 && k.size+int64(len(p)) > k.cfg.MaxFileSize {
		k.rotate()
	}
	if k.f != nil {
		n, err := k.f.Write(p)
		k.size += int64(n)
		if err != nil && !k.fileErr {
			k.fileErr = true
			k.log.Warn("writing spacecore log file", "dir", k.dir, "err", err)
		}
	}
	k.addLines(p)
	k.wake()
	return len(p), nil
}

func (k *sink) addLines(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			k.partial = append(k.partial, p...)
			return
		}
		line := append(append(k.partial[:len(k.partial):len(k.partial)], p[:i]...), '\n')
		k.partial = nil
		k.push(line)
		p = p[i+1:]
	}
}

func (k *sink) push(line []byte) {
	k.ring[k.seq%uint64(len(k.ring))] = line
	k.seq++
}

// endLine completes a trailing partial line (the workload ended without a
// newline), in the ring and in the file.
func (k *sink) endLine() {
	if len(k.partial) == 0 {
		return
	}
	if k.f != nil {
		n, _ := k.f.Write([]byte{'\n'})
		k.size += int64(n)
	}
	k.push(append(k.partial, '\n'))
	k.partial = nil
}

func (k *sink) wake() {
	close(k.notify)
	k.notify = make(chan struct{})
}

// rotate shifts spacecore.log -> .1 -> .2 ...; the oldest beyond MaxFiles
// is overwritten by the rename, so no file is ever half-written.
func (k *sink) rotate() {
	if err := k.f.Close(); err != nil {
		k.log.Warn("closing spacecore log file", "dir", k.dir, "err", err)
	}
	for n := k.cfg.MaxFiles - 1; n >= 0; n-- {
		if err := os.Rename(k.path(n), k.path(n+1)); err != nil && !os.IsNotExist(err) {
			k.log.Warn("rotating spacecore log", "dir", k.dir, "err", err)
		}
	}
	f, err := os.OpenFile(k.path(0), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		k.log.Warn("opening spacecore log file", "dir", k.dir, "err", err)
		k.f = nil
		return
	}
	k.f, k.size = f, 0
}

// setLive says whether output may still come (a machine is running or
// about to be restarted); followers of a sink that is not live end once
// drained.
func (k *sink) setLive(live bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !live {
		k.endLine()
	}
	k.live = live
	k.wake()
}

// close closes the file; with remove it also deletes the log files.
func (k *sink) close(remove bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.f != nil {
		k.f.Close()
		k.f = nil
	}
	k.live = false
	k.gone = k.gone || remove
	k.wake()
	if remove {
		if err := os.RemoveAll(k.dir); err != nil {
			k.log.Warn("removing spacecore logs", "dir", k.dir, "err", err)
		}
	}
}

func (k *sink) loadState() copyState {
	var st copyState
	b, err := os.ReadFile(filepath.Join(k.dir, stateName))
	if err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// saveState writes the copy offset with write-then-rename so a crash
// leaves the old or the new state, never a torn one.
func (k *sink) saveState(st copyState) {
	b, _ := json.Marshal(st)
	tmp := filepath.Join(k.dir, stateName+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, stateName)); err != nil {
		k.log.Warn("saving log copy state", "dir", k.dir, "err", err)
	}
}

// copyFrom copies a provider log stream of incarnation inc into the sink,
// skipping what an earlier daemon already copied of the same incarnation.
func (k *sink) copyFrom(rc io.Reader, inc int64) error {
	st := k.loadState()
	skip := int64(0)
	if st.Incarnation == inc {
		skip = st.Offset
	}
	st = copyState{Incarnation: inc}
	var last time.Time // the first chunk is recorded at once
	// Most spacecores log little: start small (a thousand idle followers
	// each parked in Read on a 32 KiB buffer held 28 MiB) and grow while
	// reads fill the buffer.
	buf := make([]byte, 2<<10)
	for {
		n, err := rc.Read(buf)
		chunk := buf[:n]
		if n == len(buf) && len(buf) < 32<<10 {
			buf = make([]byte, 2*len(buf)) // chunk keeps the old one
		}
		if d := skip - st.Offset; d > 0 {
			chunk = chunk[min(d, int64(n)):]
		}
		st.Offset += int64(n)
		if len(chunk) > 0 {
			if _, werr := k.Write(chunk); werr != nil {
				return werr
			}
		}
		if st.Offset > skip && time.Since(last) >= stateEvery {
			k.saveState(st)
			last = time.Now()
		}
		if err != nil {
			if st.Offset >= skip {
				k.saveState(st)
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
