package app

import "crypto/sha256"

// maxVerified bounds the signature cache; past it the cache is dropped
// (a miss only costs a verification).
const maxVerified = 1 << 16

// sigCache remembers the hashes of txs whose signature this node verified
// in CheckTx, so FinalizeBlock does not verify them again. Verification
// is a pure function of the tx bytes, which the hash covers, so skipping
// it cannot change a block's outcome. Not part of consensus state.
type sigCache map[[sha256.Size]byte]struct{}

func (c *sigCache) add(raw []byte) {
	if *c == nil || len(*c) >= maxVerified {
		*c = sigCache{}
	}
	(*c)[sha256.Sum256(raw)] = struct{}{}
}

// take reports whether raw was verified, forgetting it.
func (c sigCache) take(raw []byte) bool {
	h := sha256.Sum256(raw)
	_, ok := c[h]
	delete(c, h)
	return ok
}
