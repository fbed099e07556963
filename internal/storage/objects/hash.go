package objects

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"hash"
	"io"
)

const chunkSize = 1 << 20

// prefetch reads its source on another goroutine, up to one segment
// ahead, and hashes it (MD5, for the ETag) there. The pipeline encrypts,
// codes and uploads segment N while segment N+1 arrives (from the network
// for the S3 gateway, from disk for the CLI) and is hashed, instead of
// doing the three one after another.
type prefetch struct {
	ch    chan []byte // filled chunks, in order; closed after the last
	free  chan []byte // consumed chunks for reuse
	stopc chan struct{}
	done  chan struct{}
	err   error // io.EOF or the source's error; set before ch closes
	h     hash.Hash
	cur   []byte // the chunk being consumed
	buf   []byte // cur's full buffer, recycled when consumed
}

func newPrefetch(r io.Reader, ahead int) *prefetch {
	n := max(ahead/chunkSize, 1)
	p := &prefetch{ch: make(chan []byte, n), free: make(chan []byte, n+2), stopc: make(chan struct{}), done: make(chan struct{}), h: md5.New()}
	go func() {
		defer close(p.done)
		defer close(p.ch)
		for {
			var buf []byte
			select {
			case buf = <-p.free:
			default:
				buf = make([]byte, chunkSize)
			}
			k, err := io.ReadFull(r, buf)
			if k > 0 {
				p.h.Write(buf[:k])
				select {
				case p.ch <- buf[:k]:
				case <-p.stopc:
					return
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
	return p
}

func (p *prefetch) Read(b []byte) (int, error) {
	if len(p.cur) == 0 {
		if p.buf != nil {
			select {
			case p.free <- p.buf[:cap(p.buf)]:
			default:
			}
			p.buf = nil
		}
		chunk, ok := <-p.ch
		if !ok {
			return 0, p.err
		}
		p.cur, p.buf = chunk, chunk
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// stop ends the reader goroutine and waits for it, so the source is not
// read after the caller returns (idempotent).
func (p *prefetch) stop() {
	select {
	case <-p.stopc:
	default:
		close(p.stopc)
	}
	<-p.done
}

// sum returns the hex MD5 of everything read; call it after Read has
// returned io.EOF.
func (p *prefetch) sum() string {
	<-p.done
	return hex.EncodeToString(p.h.Sum(nil))
}
