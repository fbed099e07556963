package app

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/vistara-labs/vimana/internal/chain/state"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// State keys. Every value is fixed-width big-endian so the app hash does
// not depend on an encoder's choices.
const (
	prefixAccount = "acct/" // + 20-byte address → balance(8) nonce(8)
	keyMinFee     = "param/min_fee"
	keySupply     = "supply"
	keyChainID    = "chain_id"
	keyFeePool    = "fee_pool" // fees of blocks whose proposer address is not 20 bytes
)

// Account is one account's state.
type Account struct {
	Balance uint64 `json:"balance"`
	Nonce   uint64 `json:"nonce"`
}

func accountKey(a wallet.Address) string { return prefixAccount + string(a[:]) }

func encodeAccount(a Account) []byte {
	b := binary.BigEndian.AppendUint64(nil, a.Balance)
	return binary.BigEndian.AppendUint64(b, a.Nonce)
}

func decodeAccount(b []byte) Account {
	if len(b) != 16 {
		return Account{}
	}
	return Account{Balance: binary.BigEndian.Uint64(b), Nonce: binary.BigEndian.Uint64(b[8:])}
}

func encodeUint(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// view is committed state plus a staged overlay of changes. Reads see the
// overlay first; commit folds it into the base.
//
// base holds every committed value (reads never touch disk); tree is the
// authenticated structure over base whose root is the app hash. hash
// applies only the staged keys to a copy-on-write successor of tree, so a
// block costs O(changes × log n) hashes, and the committed tree keeps
// serving proofs until commit swaps it in.
type view struct {
	base   map[string][]byte
	staged map[string][]byte
	tree   state.Tree
	next   *state.Tree // tree with staged applied; nil when stale
}

func newView(base map[string][]byte) *view {
	return &view{base: base, staged: map[string][]byte{}, tree: state.Build(base)}
}

// loadView rebuilds the tree over committed state and checks it against
// the app hash stored with it, so damaged state stops the node at start.
func loadView(kv map[string][]byte, height int64, appHash []byte) (*view, error) {
	v := newView(kv)
	if height > 0 && !bytes.Equal(v.tree.Root(), appHash) {
		return nil, fmt.Errorf("state at height %d hashes to %x, stored app hash is %x: %w", height, v.tree.Root(), appHash, ErrState)
	}
	return v, nil
}

func (v *view) get(k string) []byte {
	if val, ok := v.staged[k]; ok {
		return val
	}
	return v.base[k]
}

// set stages val for k (nil deletes). It keeps a copy: the tree hashes the
// value now, so a caller reusing its buffer must not change state behind
// the tree's back. Values returned by get must not be modified either.
func (v *view) set(k string, val []byte) {
	v.staged[k] = bytes.Clone(val)
	v.next = nil
}

func (v *view) account(a wallet.Address) Account { return decodeAccount(v.get(accountKey(a))) }

func (v *view) setAccount(a wallet.Address, acc Account) { v.set(accountKey(a), encodeAccount(acc)) }

func (v *view) uint(k string) uint64 { return decodeUint(v.get(k)) }

// hash is the Merkle root over all key/value pairs of base+staged.
func (v *view) hash() []byte { return v.staging().Root() }

// staging is the tree with the staged changes applied, computed once per
// set of changes.
func (v *view) staging() *state.Tree {
	if v.next == nil {
		changes := make([]state.Change, 0, len(v.staged))
		for _, k := range slices.Sorted(maps.Keys(v.staged)) {
			changes = append(changes, state.Change{Key: []byte(k), Value: v.staged[k]})
		}
		t := v.tree.Update(changes)
		v.next = &t
	}
	return v.next
}

// commit folds the overlay into the base and returns what changed.
func (v *view) commit() map[string][]byte {
	v.tree = *v.staging()
	changes := v.staged
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		if val := changes[k]; val == nil {
			delete(v.base, k)
		} else {
			v.base[k] = val
		}
	}
	v.staged = map[string][]byte{}
	v.next = nil
	return changes
}

// discard drops the overlay.
func (v *view) discard() {
	v.staged = map[string][]byte{}
	v.next = nil
}
