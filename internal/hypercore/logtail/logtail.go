// Package logtail reads a machine's log file (the workload's stdout and
// stderr, written straight to a file so logs survive daemon restarts) and
// follows it: one inotify instance per provider wakes every follower, with
// a backing-off poll as the safety net. Shared by the sandbox and gvisor
// providers; it imports nothing of vimana.
package logtail

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Open returns a reader of the log file at path from its start. With
// follow it keeps reading as the file grows until ctx ends or stopped
// reports the machine has stopped (and the file is then drained). stopped
// returns true once the machine has stopped, or else a channel closed when
// it stops (nil when the caller cannot tell: the reader then re-asks after
// each wake-up). w wakes followers on writes; nil polls.
func Open(ctx context.Context, w *Watcher, path string, follow bool, stopped func() (bool, <-chan struct{})) io.ReadCloser {
	return &logReader{ctx: ctx, w: w, path: path, follow: follow, stopped: stopped}
}

type logReader struct {
	ctx     context.Context
	w       *Watcher
	path    string
	follow  bool
	stopped func() (bool, <-chan struct{})
	f       *os.File
	closed  bool
	idle    time.Duration   // current poll interval at EOF (backs off while quiet)
	wake    <-chan struct{} // writes to console.log while following; nil: poll
	unwake  func()
}

// Following waits for inotify to report a write to console.log; the timer
// is only a safety net (and the whole mechanism when inotify is not
// available): it starts quick and backs off while the log is quiet. A
// thousand idle followers then cost next to nothing.
const (
	followMinPoll = 50 * time.Millisecond
	followMaxPoll = time.Second
	watchedPoll   = 5 * time.Second
	signalledPoll = 30 * time.Second
)

// Watcher is one inotify instance shared by all of a provider's log
// followers (instances are scarce: 128 per user by default; watches are
// not), waking the subscribers of a file when it is written to.
type Watcher struct {
	once sync.Once
	f    *os.File
	fd   int
	err  error

	mu   sync.Mutex
	subs map[int32]map[chan struct{}]bool
}

func (w *Watcher) init() {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		w.err = err
		return
	}
	// A non-blocking fd makes the File pollable: Read parks in the
	// runtime's poller instead of holding a thread.
	w.fd, w.f, w.subs = fd, os.NewFile(uintptr(fd), "inotify"), map[int32]map[chan struct{}]bool{}
	go w.loop()
}

func (w *Watcher) loop() {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		w.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				// Events were lost: wake every follower to re-read.
				for _, chs := range w.subs {
					for ch := range chs {
						wakeCh(ch)
					}
				}
			}
			for ch := range w.subs[ev.Wd] {
				wakeCh(ch)
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		w.mu.Unlock()
	}
}

func wakeCh(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// subscribe returns a channel that receives after writes to path, and a
// function that ends the subscription.
func (w *Watcher) subscribe(path string) (<-chan struct{}, func(), error) {
	w.once.Do(w.init)
	if w.err != nil {
		return nil, nil, w.err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, err := unix.InotifyAddWatch(w.fd, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF)
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan struct{}, 1)
	if w.subs[int32(wd)] == nil {
		w.subs[int32(wd)] = map[chan struct{}]bool{}
	}
	w.subs[int32(wd)][ch] = true
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.subs[int32(wd)], ch)
		if len(w.subs[int32(wd)]) == 0 {
			delete(w.subs, int32(wd))
			unix.InotifyRmWatch(w.fd, uint32(wd))
		}
	}, nil
}

func (r *logReader) Read(b []byte) (int, error) {
	for {
		if r.closed {
			return 0, os.ErrClosed
		}
		if r.f == nil {
			f, err := os.Open(r.path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, err
			}
			r.f = f
		}
		if r.f != nil {
			n, err := r.f.Read(b)
			if n > 0 || (err != nil && err != io.EOF) {
				r.idle = 0
				return n, err
			}
		}
		if !r.follow {
			return 0, io.EOF
		}
		// At EOF: done if the machine has stopped (after one more read,
		// since the last bytes may have landed after our read).
		stopped, done := r.stopped()
		if stopped {
			if r.f != nil {
				if n, _ := r.f.Read(b); n > 0 {
					return n, nil
				}
			}
			return 0, io.EOF
		}
		if r.wake == nil && r.f != nil && r.w != nil {
			r.wake, r.unwake, _ = r.w.subscribe(r.f.Name()) // nil on error: poll
		}
		wake := r.wake
		wait := watchedPoll
		if wake != nil && done != nil {
			// Both the write and the exit are signalled: the timer only
			// guards against a lost inotify event (queue overflow).
			wait = signalledPoll
		}
		if wake == nil {
			r.idle = min(max(r.idle*2, followMinPoll), followMaxPoll)
			wait = r.idle
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return 0, io.EOF
		case <-done: // exited: drain on the next pass
			t.Stop()
		case <-wake: // written to
			t.Stop()
		case <-t.C:
		}
	}
}

func (r *logReader) Close() error {
	r.closed = true
	if r.unwake != nil {
		r.unwake()
		r.unwake = nil
	}
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}
