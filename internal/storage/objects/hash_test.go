package objects

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"testing"
	"testing/iotest"
)

// TestPrefetchFansOut: the pipeline's reads see the source byte for byte
// and the MD5 (hashed beside them) is the source's, across many chunks
// and with buffers recycled; a reader stopped early does not hang.
func TestPrefetchFansOut(t *testing.T) {
	src := data(5*chunkSize + 12345)
	for _, ahead := range []int{chunkSize, 3 * chunkSize} {
		p := newPrefetch(iotest.HalfReader(bytes.NewReader(src)), ahead)
		var got bytes.Buffer
		buf := make([]byte, 777_777) // reads that straddle chunks
		for {
			n, err := p.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		sum := md5.Sum(src)
		if !bytes.Equal(got.Bytes(), src) || p.sum() != hex.EncodeToString(sum[:]) {
			t.Fatalf("ahead %d: %d bytes read back, md5 %s", ahead, got.Len(), p.sum())
		}
		p.stop()
	}
	p := newPrefetch(bytes.NewReader(src), chunkSize)
	p.Read(make([]byte, 10))
	p.stop() // the reader and hasher end although most chunks were never read
	p.stop()
}
