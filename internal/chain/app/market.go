package app

import (
	"errors"
	"maps"
	"slices"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// txCache stages one message's writes over the block's view, so a failed
// message changes nothing while its fee and nonce still count.
type txCache struct {
	v *view
	w map[string][]byte
}

func newTxCache(v *view) *txCache { return &txCache{v: v, w: map[string][]byte{}} }

// Get implements market.KV.
func (c *txCache) Get(k string) []byte {
	if val, ok := c.w[k]; ok {
		return val
	}
	return c.v.get(k)
}

// Set implements market.KV; nil deletes.
func (c *txCache) Set(k string, val []byte) { c.w[k] = val }

// write folds the cache into the view, in key order.
func (c *txCache) write() {
	for _, k := range slices.Sorted(maps.Keys(c.w)) {
		c.v.set(k, c.w[k])
	}
}

// Debit implements market.Bank.
func (c *txCache) Debit(a wallet.Address, amount uint64) error {
	acc := decodeAccount(c.Get(accountKey(a)))
	if acc.Balance < amount {
		return market.ErrFunds
	}
	acc.Balance -= amount
	c.Set(accountKey(a), encodeAccount(acc))
	return nil
}

// Credit implements market.Bank. It cannot overflow: balances and market
// holdings sum to the supply.
func (c *txCache) Credit(a wallet.Address, amount uint64) {
	acc := decodeAccount(c.Get(accountKey(a)))
	acc.Balance += amount
	c.Set(accountKey(a), encodeAccount(acc))
}

// execMsg runs tx's message at height h in a cache and writes it to the
// view only if it succeeds.
func (a *App) execMsg(tx *Tx, txHash []byte, h int64) (uint32, string, []abci.Event) {
	c := newTxCache(a.state)
	from := tx.Body.Sender()
	switch m := tx.msg.(type) {
	case *Transfer:
		if err := c.Debit(from, m.Amount); err != nil {
			return CodeInsufficientFunds, err.Error(), nil
		}
		c.Credit(m.To, m.Amount)
		c.write()
		return CodeOK, "", []abci.Event{{Type: "transfer", Attributes: []abci.EventAttribute{
			{Key: "sender", Value: from.String(), Index: true},
			{Key: "recipient", Value: m.To.String(), Index: true},
			{Key: "amount", Value: uitoa(m.Amount)},
			{Key: "fee", Value: uitoa(tx.Body.Fee)},
		}}}
	case *Stake, *Unstake:
		code, log, evs := a.execStaking(c, from, tx.msg, h) // marks power changes only on success
		if code == CodeOK {
			c.write()
		}
		return code, log, evs
	case market.Msg:
		mc := &market.Ctx{Height: h, Sender: from, SenderKey: tx.Body.From, TxHash: txHash, KV: c, Bank: c}
		if err := market.Exec(mc, m); err != nil {
			var me *market.Error
			if errors.As(err, &me) {
				return me.Code, me.Msg, nil
			}
			return CodeInvalid, err.Error(), nil
		}
		c.write()
		return CodeOK, "", marketEvents(mc.Events)
	}
	return CodeInvalid, "unhandled message", nil
}

// endBlock runs the market's scheduled work for height h and issues the
// block's storage audit challenges, seeded by the block hash (every
// validator finalizes the same hash; a proposer can grind it only by
// choosing which txs to include, which moves challenges among deals but
// cannot target a piece without many tries — docs/storage.md).
func (a *App) endBlock(h int64, blockHash []byte) []abci.Event {
	c := newTxCache(a.state)
	if len(blockHash) == 0 {
		blockHash = a.appHash // in-process tests finalize without a hash
	}
	mc := &market.Ctx{Height: h, KV: c, Bank: c, Seed: blockHash}
	market.EndBlock(mc)
	c.write()
	return marketEvents(mc.Events)
}

// indexed are the attribute keys CometBFT's indexer may search by.
var indexed = map[string]bool{"order": true, "lease": true, "provider": true, "owner": true, "action": true, "deal": true}

func marketEvents(evs []market.Event) []abci.Event {
	out := make([]abci.Event, 0, len(evs))
	for _, e := range evs {
		ev := abci.Event{Type: e.Type}
		for _, at := range e.Attrs {
			ev.Attributes = append(ev.Attributes, abci.EventAttribute{Key: at.Key, Value: at.Value, Index: indexed[at.Key]})
		}
		out = append(out, ev)
	}
	return out
}
