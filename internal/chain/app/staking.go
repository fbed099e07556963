package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// Staking: any account bonds tokens to a validator's ed25519 consensus key;
// the validator's voting power is its bonded stake in whole VIS. Unbonded
// tokens return after the unbonding period. Genesis validators start with
// the stake their genesis power stands for (power × 1 VIS, held by nobody:
// it cannot be unstaked, only added to).

// Staking message types.
const (
	TxTypeStake   = "stake"
	TxTypeUnstake = "unstake"
)

// PowerUnit is the stake worth one unit of voting power: 1 VIS.
const PowerUnit = 1_000_000

// DefaultUnbondingBlocks is how long unstaked tokens stay locked.
const DefaultUnbondingBlocks = 20

// Stake bonds Amount uvis from the sender to Validator.
type Stake struct {
	Validator []byte `json:"validator"` // ed25519 consensus public key
	Amount    uint64 `json:"amount"`
}

// Unstake starts unbonding Amount uvis the sender bonded to Validator.
type Unstake struct {
	Validator []byte `json:"validator"`
	Amount    uint64 `json:"amount"`
}

// Validate implements Msg.
func (m *Stake) Validate() error { return validateStake(m.Validator, m.Amount) }

// Debit implements Msg.
func (m *Stake) Debit() uint64 { return m.Amount }

// Validate implements Msg.
func (m *Unstake) Validate() error { return validateStake(m.Validator, m.Amount) }

// Debit implements Msg.
func (*Unstake) Debit() uint64 { return 0 }

func validateStake(v []byte, amount uint64) error {
	if len(v) != ed25519.PublicKeySize {
		return fmt.Errorf("validator: %d-byte key, want an ed25519 public key", len(v))
	}
	if amount == 0 {
		return fmt.Errorf("amount must be positive")
	}
	return nil
}

// State keys of staking.
const (
	prefixValStake = "stk/v/" // + validator key → total stake (8)
	prefixBond     = "stk/b/" // + validator key + address → bonded by that account (8)
	prefixUnbond   = "stk/u/" // + height (8) → list of address(20)+amount(8) records
	keyStakeHeld   = "stk/held"
	keyUnbonding   = "param/unbonding_blocks"
	keyMaxVals     = "param/max_validators"
)

func valKey(v []byte) string { return prefixValStake + string(v) }
func bondKey(v []byte, a wallet.Address) string {
	return prefixBond + string(v) + string(a[:])
}
func unbondKey(h int64) string {
	return prefixUnbond + string(binary.BigEndian.AppendUint64(nil, uint64(h)))
}

// execStaking runs a staking message in c at height h.
func (a *App) execStaking(c *txCache, from wallet.Address, m Msg, h int64) (uint32, string, []abci.Event) {
	get := func(k string) uint64 { return decodeUint(c.Get(k)) }
	set := func(k string, v uint64) {
		if v == 0 {
			c.Set(k, nil)
		} else {
			c.Set(k, encodeUint(v))
		}
	}
	switch m := m.(type) {
	case *Stake:
		if err := c.Debit(from, m.Amount); err != nil {
			return CodeInsufficientFunds, err.Error(), nil
		}
		if get(valKey(m.Validator)) == 0 {
			if maxV := get(keyMaxVals); maxV > 0 && a.countValidators(c) >= maxV {
				return CodeState, fmt.Sprintf("the validator set is full (%d)", maxV), nil
			}
		}
		set(valKey(m.Validator), get(valKey(m.Validator))+m.Amount)
		set(bondKey(m.Validator, from), get(bondKey(m.Validator, from))+m.Amount)
		set(keyStakeHeld, get(keyStakeHeld)+m.Amount)
	case *Unstake:
		bonded := get(bondKey(m.Validator, from))
		if bonded < m.Amount {
			return CodeInsufficientFunds, fmt.Sprintf("%s bonded %d uvis to this validator, not %d", from, bonded, m.Amount), nil
		}
		total := get(valKey(m.Validator))
		if total-m.Amount < PowerUnit && total >= PowerUnit && a.countValidators(c) <= 1 {
			return CodeState, "this would remove the last validator", nil
		}
		set(valKey(m.Validator), total-m.Amount)
		set(bondKey(m.Validator, from), bonded-m.Amount)
		set(keyStakeHeld, get(keyStakeHeld)-m.Amount)
		// The tokens wait out the unbonding period (held as unbonding).
		ub := get(keyUnbonding)
		if ub == 0 {
			ub = DefaultUnbondingBlocks
		}
		k := unbondKey(h + int64(ub))
		rec := append(bytes.Clone(c.Get(k)), from[:]...)
		rec = binary.BigEndian.AppendUint64(rec, m.Amount)
		c.Set(k, rec)
		set(keyStakeHeld, get(keyStakeHeld)+m.Amount) // unbonding still counts as held
	}
	var v []byte
	var amt uint64
	typ := TxTypeStake
	switch m := m.(type) {
	case *Stake:
		v, amt = m.Validator, m.Amount
	case *Unstake:
		v, amt, typ = m.Validator, m.Amount, TxTypeUnstake
	}
	a.powerChanged[string(v)] = true
	return CodeOK, "", []abci.Event{{Type: typ, Attributes: []abci.EventAttribute{
		{Key: "account", Value: from.String(), Index: true},
		{Key: "validator", Value: fmt.Sprintf("%X", v), Index: true},
		{Key: "amount", Value: uitoa(amt)},
	}}}
}

// countValidators counts validators with power ≥ 1 (linear in validators;
// reads the view's keys — fine for the small sets a microchain runs).
func (a *App) countValidators(c *txCache) uint64 {
	n := uint64(0)
	for _, k := range a.stakeKeys(c) {
		if decodeUint(c.Get(k)) >= PowerUnit {
			n++
		}
	}
	return n
}

// stakeKeys lists validator stake keys visible through c, sorted.
func (a *App) stakeKeys(c *txCache) []string {
	seen := map[string]bool{}
	for k := range a.state.base {
		if strings.HasPrefix(k, prefixValStake) {
			seen[k] = true
		}
	}
	for k := range a.state.staged {
		if strings.HasPrefix(k, prefixValStake) {
			seen[k] = true
		}
	}
	for k := range c.w {
		if strings.HasPrefix(k, prefixValStake) {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// stakingEndBlock releases unbonded tokens due at h and returns the
// validator updates of the block (sorted by key).
func (a *App) stakingEndBlock(h int64) []abci.ValidatorUpdate {
	c := newTxCache(a.state)
	if rec := c.Get(unbondKey(h)); rec != nil {
		held := decodeUint(c.Get(keyStakeHeld))
		for off := 0; off+28 <= len(rec); off += 28 {
			var addr wallet.Address
			copy(addr[:], rec[off:])
			amt := binary.BigEndian.Uint64(rec[off+20:])
			c.Credit(addr, amt)
			held -= amt
		}
		c.Set(keyStakeHeld, encodeUint(held))
		c.Set(unbondKey(h), nil)
	}
	var ups []abci.ValidatorUpdate
	for _, v := range slices.Sorted(maps.Keys(a.powerChanged)) {
		power := int64(decodeUint(c.Get(valKey([]byte(v)))) / PowerUnit)
		ups = append(ups, abci.NewValidatorUpdate(ed25519PubKey([]byte(v)), power))
	}
	clear(a.powerChanged)
	c.write()
	return ups
}

func ed25519PubKey(b []byte) cmted25519.PubKey { return cmted25519.PubKey(b) }

// initValidators records genesis validators' stake (power × PowerUnit).
func initValidators(v *view, vals []abci.ValidatorUpdate) error {
	for _, u := range vals {
		if u.PubKeyType != "ed25519" || len(u.PubKeyBytes) != ed25519.PublicKeySize {
			return fmt.Errorf("genesis validator: only ed25519 keys: %w", ErrInvalid)
		}
		v.set(valKey(u.PubKeyBytes), encodeUint(uint64(u.Power)*PowerUnit))
	}
	return nil
}

// ValidatorInfo is a validator's stake as the app sees it.
type ValidatorInfo struct {
	PubKey []byte `json:"pub_key"`
	Stake  uint64 `json:"stake"`
	Power  int64  `json:"power"`
}
