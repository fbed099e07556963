package objects

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"sync/atomic"
)

const chunkSize = 1 << 20

// prefetch reads its source on another goroutine, up to one segment
// ahead, and hands every chunk both to the pipeline (Read) and to a third
// goroutine that hashes it (MD5, for the ETag). The pipeline encrypts,
// codes and uploads segment N while segment N+1 arrives (from the network
// for the S3 gateway, from disk for the CLI), and the MD5 — about 1.4
// CPU-seconds per GB, one core at most — runs beside both instead of in
// front of the pipeline, so it gates the put only when it is the slowest
// stage. A chunk's buffer is reused once both consumers are done with it.
type prefetch struct {
	ch    chan *chunk // filled chunks for Read, in order; closed after the last
	hch   chan *chunk // the same chunks for the hasher
	free  chan []byte // released buffers for reuse
	stopc chan struct{}
	done  chan struct{} // the reader goroutine ended
	hdone chan struct{} // the hasher ended
	err   error         // io.EOF or the source's error; set before ch closes
	h     hash.Hash
	cur   []byte // the unread part of the chunk being consumed
	curc  *chunk
}

// chunk is one read of the source, shared by Read and the hasher.
type chunk struct {
	b    []byte
	refs atomic.Int32
}

func newPrefetch(r io.Reader, ahead int) *prefetch {
	n := max(ahead/chunkSize, 1)
	p := &prefetch{ch: make(chan *chunk, n), hch: make(chan *chunk, n), free: make(chan []byte, 2*n+2),
		stopc: make(chan struct{}), done: make(chan struct{}), hdone: make(chan struct{}), h: md5.New()}
	go func() {
		defer close(p.done)
		defer close(p.ch)
		defer close(p.hch)
		for {
			var buf []byte
			select {
			case buf = <-p.free:
			default:
				buf = make([]byte, chunkSize)
			}
			k, err := io.ReadFull(r, buf)
			if k > 0 {
				c := &chunk{b: buf[:k]}
				c.refs.Store(2)
				for _, to := range []chan *chunk{p.hch, p.ch} {
					select {
					case to <- c:
					case <-p.stopc:
						return
					}
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = io.EOF
				}
				p.err = err
				return
			}
		}
	}()
	go func() {
		defer close(p.hdone)
		for {
			select {
			case c, ok := <-p.hch:
				if !ok {
					return
				}
				p.h.Write(c.b)
				p.release(c)
			case <-p.stopc:
				return
			}
		}
	}()
	return p
}

// release drops one consumer's hold on c; the last one recycles its buffer.
func (p *prefetch) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		select {
		case p.free <- c.b[:cap(c.b)]:
		default:
		}
	}
}

func (p *prefetch) Read(b []byte) (int, error) {
	if len(p.cur) == 0 {
		if p.curc != nil {
			p.release(p.curc)
			p.curc = nil
		}
		c, ok := <-p.ch
		if !ok {
			return 0, p.err
		}
		p.cur, p.curc = c.b, c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// stop ends the reader and hasher goroutines and waits for them, so the
// source is not read after the caller returns (idempotent).
func (p *prefetch) stop() {
	select {
	case <-p.stopc:
	default:
		close(p.stopc)
	}
	<-p.done
	<-p.hdone
}

// sum returns the hex MD5 of everything read; call it after Read has
// returned io.EOF.
func (p *prefetch) sum() string {
	<-p.done
	<-p.hdone
	return hex.EncodeToString(p.h.Sum(nil))
}
