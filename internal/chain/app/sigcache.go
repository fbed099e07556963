package app

import "crypto/sha256"

// maxVerified bounds the cache; past it the cache is dropped (a miss only
// costs a decode and a verification).
const maxVerified = 1 << 15

// decodedTxs remembers, by hash, the txs this node decoded and whose
// signature it verified in CheckTx, so the mempool's recheck after every
// block and FinalizeBlock neither decode (strict JSON, four passes) nor
// verify them again. Decoding and verification are pure functions of the
// tx bytes, which the hash covers, so reusing their result cannot change
// a block's outcome. Not part of consensus state.
type decodedTxs map[[sha256.Size]byte]*Tx

func (c *decodedTxs) add(h [sha256.Size]byte, tx *Tx) {
	if *c == nil || len(*c) >= maxVerified {
		*c = decodedTxs{}
	}
	(*c)[h] = tx
}

// get returns the verified decoding of the tx with hash h, if cached.
func (c decodedTxs) get(h [sha256.Size]byte) (*Tx, bool) {
	tx, ok := c[h]
	return tx, ok
}

// take is get that also forgets the entry (the tx is being delivered).
func (c decodedTxs) take(h [sha256.Size]byte) (*Tx, bool) {
	tx, ok := c[h]
	delete(c, h)
	return tx, ok
}
