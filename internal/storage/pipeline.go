// Package storage is the client side of decentralized storage: an object
// is read as a stream, cut into segments (default 64 MiB; objects up to
// 4 KiB stay inline in the metadata), each segment encrypted with its own
// random key (AES-256-GCM) that the owner's master key wraps
// (XChaCha20-Poly1305), Reed-Solomon coded into k+m pieces
// (klauspost/reedsolomon), and every piece hashed with BLAKE3, whose own
// tree is the piece's Merkle root for audits. Pieces go to k+m distinct piece stores in
// parallel; a read fetches k, asks the other holders when one fails or
// lags (hedging), and decodes from the first k that verify, cancelling
// the rest (long-tail cancellation). Repair needs no
// key: it works on pieces (docs/storage.md).
package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/reedsolomon"

	"github.com/vistara-labs/vimana/internal/merkle"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// Defaults.
const (
	DefaultSegmentSize = 64 << 20
	DefaultK           = 4
	DefaultM           = 2
	InlineLimit        = 4 << 10
	LeafSize           = merkle.LeafSize // Merkle leaf size for audits (1 KiB)
	KeySize            = 32
)

// Errors.
var (
	ErrCorrupt     = errors.New("storage: piece or segment failed verification")
	ErrUnavailable = errors.New("storage: not enough pieces")
	ErrKey         = errors.New("storage: wrong key")
)

// Params are the coding parameters of an object.
type Params struct {
	SegmentSize int `json:"segment_size"`
	K           int `json:"k"` // data pieces; any k restore a segment
	M           int `json:"m"` // parity pieces; any m may be lost
}

// DefaultParams are a devnet's 4+2 with 64 MiB segments.
func DefaultParams() Params { return Params{SegmentSize: DefaultSegmentSize, K: DefaultK, M: DefaultM} }

// Validate checks the parameters.
func (p Params) Validate() error {
	switch {
	case p.K < 1 || p.M < 0 || p.K+p.M > 256:
		return fmt.Errorf("storage: k=%d m=%d: want k ≥ 1, m ≥ 0, k+m ≤ 256", p.K, p.M)
	case p.SegmentSize < LeafSize || p.SegmentSize > 1<<30:
		return fmt.Errorf("storage: segment size %d: want %d..1GiB", p.SegmentSize, LeafSize)
	}
	return nil
}

// MasterKey derives the object-key-wrapping key from secret material (a
// wallet seed) for one purpose, with HKDF-SHA256.
func MasterKey(secret []byte, purpose string) ([]byte, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("storage: master secret too short")
	}
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte("vimana/storage/v1/"+purpose)), k); err != nil {
		return nil, err
	}
	return k, nil
}

// Passphrase key derivation (argon2id, RFC 9106's second recommended
// setting: 3 passes over 64 MiB), for owners who want their storage keys
// to need something besides the wallet file.
const (
	passphraseTime    = 3
	passphraseMemKiB  = 64 << 10
	passphraseThreads = 4
	MinPassphrase     = 8 // bytes
)

// PassphraseSecret derives 32 bytes of secret material from a passphrase
// with argon2id, salted by owner (a wallet address: the same passphrase
// gives each account different keys). MasterKey then derives the keys
// from it as from a wallet seed.
func PassphraseSecret(passphrase []byte, owner string) ([]byte, error) {
	if len(passphrase) < MinPassphrase {
		return nil, fmt.Errorf("storage: passphrase of %d bytes: want at least %d", len(passphrase), MinPassphrase)
	}
	salt := sha256.Sum256([]byte("vimana/storage/v1/passphrase\x00" + owner))
	return argon2.IDKey(passphrase, salt[:], passphraseTime, passphraseMemKiB, passphraseThreads, KeySize), nil
}

// Segment is one segment's metadata; only the wrapped key needs the owner.
type Segment struct {
	Index      int     `json:"index"`
	Size       int     `json:"size"`        // plaintext bytes
	CipherSize int     `json:"cipher_size"` // bytes before coding
	ShardSize  int     `json:"shard_size"`
	WrappedKey []byte  `json:"wrapped_key"`      // nonce ‖ XChaCha20-Poly1305(master, segment key)
	Pieces     []Piece `json:"pieces"`           // k+m, in shard order
	Inline     []byte  `json:"inline,omitempty"` // small objects: the ciphertext itself
}

// Piece is one coded shard of a segment.
type Piece struct {
	ID   string `json:"id"`   // hex BLAKE3 of the piece: content address
	Root []byte `json:"root"` // Merkle root over LeafSize leaves (audits)
	Size int    `json:"size"`
}

// encodeSegment encrypts plain with a fresh key wrapped by master and codes
// it into k+m shards.
func encodeSegment(enc reedsolomon.Encoder, p Params, master []byte, index int, plain []byte) (Segment, [][]byte, error) {
	seg := Segment{Index: index, Size: len(plain)}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return seg, nil, err
	}
	wrapped, err := wrap(master, key, index)
	if err != nil {
		return seg, nil, err
	}
	seg.WrappedKey = wrapped
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	// The key is used for this one segment only, so a zero nonce is safe.
	ct := gcm.Seal(make([]byte, 0, len(plain)+gcm.Overhead()), make([]byte, gcm.NonceSize()), plain, segmentAD(index))
	seg.CipherSize = len(ct)
	shards, err := enc.Split(ct)
	if err != nil {
		return seg, nil, err
	}
	if err := enc.Encode(shards); err != nil {
		return seg, nil, err
	}
	seg.ShardSize = len(shards[0])
	// A piece's audit root is its BLAKE3 hash, so one hash gives both the
	// id and the root (internal/merkle); the pieces hash in parallel.
	seg.Pieces = make([]Piece, len(shards))
	var wg sync.WaitGroup
	next := make(chan int, len(shards))
	for i := range shards {
		next <- i
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(shards)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				root := merkle.Root(shards[i])
				seg.Pieces[i] = Piece{ID: hex.EncodeToString(root), Root: root, Size: len(shards[i])}
			}
		}()
	}
	wg.Wait()
	return seg, shards, nil
}

// decodeSegment rebuilds the plaintext from shards (nil = missing) that
// were already verified against seg.
func decodeSegment(enc reedsolomon.Encoder, k int, master []byte, seg Segment, shards [][]byte) ([]byte, error) {
	if err := enc.ReconstructData(shards); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// Room for whole shards: the last is padded past CipherSize, and a
	// buffer of exactly CipherSize would be copied again by append.
	ct := make([]byte, 0, k*len(shards[0]))
	for _, sh := range shards[:k] {
		ct = append(ct, sh...)
	}
	if len(ct) < seg.CipherSize {
		return nil, ErrCorrupt
	}
	ct = ct[:seg.CipherSize]
	key, err := unwrap(master, seg.WrappedKey, seg.Index)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(ct[:0], make([]byte, gcm.NonceSize()), ct, segmentAD(seg.Index))
	if err != nil {
		return nil, fmt.Errorf("%w: segment %d does not decrypt", ErrCorrupt, seg.Index)
	}
	return plain, nil
}

func segmentAD(index int) []byte { return fmt.Appendf(nil, "vimana/segment/v1/%d", index) }

func wrap(master, key []byte, index int) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(master)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(key)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, key, segmentAD(index)), nil
}

func unwrap(master, wrapped []byte, index int) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(master)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < aead.NonceSize() {
		return nil, ErrKey
	}
	key, err := aead.Open(nil, wrapped[:aead.NonceSize()], wrapped[aead.NonceSize():], segmentAD(index))
	if err != nil {
		return nil, ErrKey
	}
	return key, nil
}

func pieceID(b []byte) string { return hex.EncodeToString(merkle.Root(b)) }

// MerkleRoot is the audit root of b: BLAKE3's own tree over LeafSize
// leaves, whose root is b's BLAKE3-256 hash (a provider proves possession
// of a leaf with the path to this root; see internal/merkle).
func MerkleRoot(b []byte) []byte { return merkle.Root(b) }
