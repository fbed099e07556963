package app

import (
	"encoding/binary"
	"sort"

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
type view struct {
	base   map[string][]byte
	staged map[string][]byte
}

func newView(base map[string][]byte) *view {
	return &view{base: base, staged: map[string][]byte{}}
}

func (v *view) get(k string) []byte {
	if val, ok := v.staged[k]; ok {
		return val
	}
	return v.base[k]
}

func (v *view) set(k string, val []byte) { v.staged[k] = val }

func (v *view) account(a wallet.Address) Account { return decodeAccount(v.get(accountKey(a))) }

func (v *view) setAccount(a wallet.Address, acc Account) { v.set(accountKey(a), encodeAccount(acc)) }

func (v *view) uint(k string) uint64 { return decodeUint(v.get(k)) }

// hash is the Merkle root over all key/value pairs of base+staged in
// sorted key order.
func (v *view) hash() []byte {
	keys := make([]string, 0, len(v.base)+len(v.staged))
	for k := range v.base {
		if _, ok := v.staged[k]; !ok {
			keys = append(keys, k)
		}
	}
	for k, val := range v.staged {
		if val != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	leaves := make([][]byte, len(keys))
	for i, k := range keys {
		leaves[i] = leafHash([]byte(k), v.get(k))
	}
	return merkleRoot(leaves)
}

// commit folds the overlay into the base and returns what changed.
func (v *view) commit() map[string][]byte {
	changes := v.staged
	for k, val := range changes {
		if val == nil {
			delete(v.base, k)
		} else {
			v.base[k] = val
		}
	}
	v.staged = map[string][]byte{}
	return changes
}

// discard drops the overlay.
func (v *view) discard() { v.staged = map[string][]byte{} }
