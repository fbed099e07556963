package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// progressEvery is how many bytes pass between in-flight Progress calls.
const progressEvery = 4 << 20

// layerRun applies one layer of an image to an unpacker.
type layerRun struct {
	store        *Store
	layer        v1.Layer
	src          source
	index, count int
	progress     func(Progress)
}

// apply streams the layer into u and verifies its uncompressed content
// against the diff_id in the (digest-verified) config, so every byte in
// the rootfs is covered by the manifest digest. Registry layers go
// through the blob cache first; it returns their digest.
func (r *layerRun) apply(ctx context.Context, u *unpacker) (string, error) {
	diffID, err := r.layer.DiffID()
	if err != nil {
		return "", sourceErr(r.src, err)
	}
	var rc io.ReadCloser
	var digest, blob string
	if r.src.remote {
		d, err := r.layer.Digest()
		if err != nil {
			return "", classify(err)
		}
		digest = d.String()
		release, err := r.store.want(d.Hex)
		if err != nil {
			return "", err
		}
		defer release()
		if blob, err = r.fetch(ctx, d); err != nil {
			return "", err
		}
		if rc, err = openBlob(blob); err != nil {
			return "", err
		}
	} else if rc, err = r.layer.Uncompressed(); err != nil {
		return "", sourceErr(r.src, err)
	}
	defer rc.Close()

	id := digest
	if id == "" {
		id = diffID.String()
	}
	rep := r.reporter(id, PhaseUnpack, 0)
	u.onBytes = rep.add
	h := sha256.New()
	in := &ctxReader{ctx: ctx, r: io.TeeReader(rc, h)}
	if err := u.apply(in); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", err
	}
	if _, err := io.Copy(io.Discard, in); err != nil { // tar padding counts toward the diff_id
		return "", fmt.Errorf("%w: reading layer: %v", hypercore.ErrInvalid, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID.String() {
		if blob != "" {
			os.Remove(blob) // a corrupt cache entry: fetch it again next time
		}
		return "", fmt.Errorf("%w: layer content %s does not match its diff_id %s", hypercore.ErrInvalid, got, diffID)
	}
	rep.done()
	return digest, nil
}

// fetch makes sure blobs/sha256/<hex> holds the layer's compressed bytes
// and returns its path. Downloads land in tmp/ and are renamed into place
// once their digest checks out, so an interrupted pull resumes per layer.
func (r *layerRun) fetch(ctx context.Context, d v1.Hash) (string, error) {
	final := filepath.Join(r.store.dir, "blobs", "sha256", d.Hex)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	size, _ := r.layer.Size()
	rep := r.reporter(d.String(), PhaseDownload, size)
	rc, err := r.layer.Compressed()
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", d, classify(err))
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Join(r.store.dir, "tmp"), fmt.Sprintf("%d-blob-", os.Getpid()))
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h, &countWriter{w: io.Discard, n: rep.add}), &ctxReader{ctx: ctx, r: rc})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("fetching %s: %w", d, classify(err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex {
		return "", fmt.Errorf("fetching %s: %w: got content with digest sha256:%s", d, hypercore.ErrInvalid, got)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return "", err
	}
	rep.done()
	return final, nil
}

// openBlob opens a cached blob, undoing gzip or zstd compression.
func openBlob(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	var closeDec func()
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: layer: %v", hypercore.ErrInvalid, err)
		}
		r = zr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: layer: %v", hypercore.ErrInvalid, err)
		}
		r, closeDec = zr, zr.Close
	}
	return &blobReader{Reader: r, f: f, closeDec: closeDec}, nil
}

type blobReader struct {
	io.Reader
	f        *os.File
	closeDec func()
}

func (b *blobReader) Close() error {
	if b.closeDec != nil {
		b.closeDec()
	}
	return b.f.Close()
}

// ctxReader stops a long copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// reporter rate-limits Progress calls for one layer phase.
type reporter struct {
	p         func(Progress)
	base      Progress
	last      int64
	completed bool
}

func (r *layerRun) reporter(digest, phase string, total int64) *reporter {
	return &reporter{p: r.progress, base: Progress{Layer: r.index, Layers: r.count, Digest: digest, Phase: phase, Total: total}}
}

func (r *reporter) add(n int64) {
	r.base.Bytes += n
	if r.p != nil && r.base.Bytes-r.last >= progressEvery {
		r.last = r.base.Bytes
		r.p(r.base)
	}
}

func (r *reporter) done() {
	if r.p != nil && !r.completed {
		r.completed = true
		p := r.base
		p.Done = true
		r.p(p)
	}
}
