package objects

import (
	"crypto/md5"
	"encoding/hex"
	"hash"
	"io"
	"sync"
)

const hashChunk = 1 << 20

// asyncMD5 hashes what a reader passes through on another goroutine, up
// to lag bytes behind, so the MD5 for the ETag (~600 MB/s on one core)
// overlaps with the pipeline's encryption, coding and uploads instead of
// adding to them.
type asyncMD5 struct {
	r    io.Reader
	ch   chan []byte
	done chan struct{}
	h    hash.Hash
	pool sync.Pool
	once sync.Once
	cur  *[]byte // filling; sent when full
}

func newAsyncMD5(r io.Reader, lag int) *asyncMD5 {
	a := &asyncMD5{r: r, ch: make(chan []byte, max(lag/hashChunk, 1)), done: make(chan struct{}), h: md5.New()}
	a.pool.New = func() any { b := make([]byte, hashChunk); return &b }
	go func() {
		defer close(a.done)
		for b := range a.ch {
			a.h.Write(b)
			b = b[:cap(b)]
			a.pool.Put(&b)
		}
	}()
	return a
}

func (a *asyncMD5) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		if a.cur == nil {
			a.cur = a.pool.Get().(*[]byte)
			*a.cur = (*a.cur)[:0]
		}
		k := min(len(rest), hashChunk-len(*a.cur))
		*a.cur = append(*a.cur, rest[:k]...)
		rest = rest[k:]
		if len(*a.cur) == hashChunk {
			a.ch <- *a.cur
			a.cur = nil
		}
	}
	return n, err
}

// stop ends the hasher (idempotent).
func (a *asyncMD5) stop() {
	a.once.Do(func() {
		if a.cur != nil && len(*a.cur) > 0 {
			a.ch <- *a.cur
		}
		close(a.ch)
	})
	<-a.done
}

// sum waits for the hasher and returns the hex digest.
func (a *asyncMD5) sum() string {
	a.stop()
	return hex.EncodeToString(a.h.Sum(nil))
}
