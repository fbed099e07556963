package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Genesis is the app_state of CometBFT's genesis.json.
type Genesis struct {
	MinFee   uint64           `json:"min_fee"` // uvis per transaction
	Balances []GenesisBalance `json:"balances"`
	Market   *market.Params   `json:"market,omitempty"` // default market.DefaultParams()
	// UnbondingBlocks is how long unstaked tokens stay locked (default 20);
	// MaxValidators caps the validator set (0 = no cap).
	UnbondingBlocks uint64 `json:"unbonding_blocks,omitempty"`
	MaxValidators   uint64 `json:"max_validators,omitempty"`
}

// GenesisBalance funds one account at genesis.
type GenesisBalance struct {
	Address wallet.Address `json:"address"`
	Amount  uint64         `json:"amount"` // uvis
}

// ParseGenesis decodes app_state strictly; empty input is an empty genesis.
func ParseGenesis(raw []byte) (*Genesis, error) {
	var g Genesis
	if len(bytes.TrimSpace(raw)) == 0 {
		return &g, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("genesis app_state: %v: %w", err, ErrInvalid)
	}
	if dec.More() {
		return nil, fmt.Errorf("genesis app_state: trailing data: %w", ErrInvalid)
	}
	return &g, nil
}

// apply writes the genesis state into v. It refuses duplicate addresses and
// a total supply that overflows uint64.
func (g *Genesis) apply(v *view, chainID string) error {
	seen := map[wallet.Address]bool{}
	var supply uint64
	for _, b := range g.Balances {
		if seen[b.Address] {
			return fmt.Errorf("genesis: %s funded twice: %w", b.Address, ErrInvalid)
		}
		seen[b.Address] = true
		var carry uint64
		supply, carry = bits.Add64(supply, b.Amount, 0)
		if carry != 0 {
			return fmt.Errorf("genesis: total supply overflows: %w", ErrInvalid)
		}
		v.setAccount(b.Address, Account{Balance: b.Amount})
	}
	v.set(keyChainID, []byte(chainID))
	v.set(keyMinFee, encodeUint(g.MinFee))
	v.set(keySupply, encodeUint(supply))
	ub := g.UnbondingBlocks
	if ub == 0 {
		ub = DefaultUnbondingBlocks
	}
	v.set(keyUnbonding, encodeUint(ub))
	v.set(keyMaxVals, encodeUint(g.MaxValidators))
	mp := market.DefaultParams()
	if g.Market != nil {
		mp = *g.Market
	}
	c := newTxCache(v)
	if err := market.SetParams(c, mp); err != nil {
		return fmt.Errorf("genesis: %v: %w", err, ErrInvalid)
	}
	c.write()
	return nil
}
