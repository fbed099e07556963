package app

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Query paths.
const (
	QueryAccount = "/account" // data: bech32 address; value: Account as JSON
	QueryParams  = "/params"  // value: Params as JSON

	QueryMarketParams = "/market/params"    // value: market.Params
	QueryProvider     = "/market/provider"  // data: bech32 address; value: market.Provider
	QueryProviders    = "/market/providers" // value: []market.Provider
	QueryOrder        = "/market/order"     // data: id; value: market.Order
	QueryBids         = "/market/bids"      // data: order id; value: []market.Bid
	QueryOpen         = "/market/open"      // value: []market.Order, open ones
	QueryOwned        = "/market/owned"     // data: bech32 owner; value: []market.Order
	QueryLeases       = "/market/leases"    // data: bech32 provider; value: []market.Order it serves
	QueryValidators   = "/validators"       // value: []ValidatorInfo, by key

	QueryDeal        = "/storage/deal"       // data: id; value: market.Deal
	QueryDeals       = "/storage/deals"      // data: bech32 owner; value: []market.Deal
	QueryActiveDeals = "/storage/active"     // value: []market.Deal, active ones
	QueryRepairDeals = "/storage/repair"     // value: []market.Deal flagged for repair
	QueryChallenges  = "/storage/challenges" // data: bech32 provider; value: []market.Challenge open for it
	QueryIndex       = "/storage/index"      // data: bech32 owner, or owner/name; value: []market.IndexPointer, or one
)

// committedKV reads committed state for market queries.
type committedKV struct{ a *App }

func (c committedKV) Get(k string) []byte { return c.a.committed(k) }
func (c committedKV) Set(string, []byte)  { panic("app: write through a query") }

// Params are the chain-wide parameters and totals.
type Params struct {
	ChainID string `json:"chain_id"`
	MinFee  uint64 `json:"min_fee"`
	Supply  uint64 `json:"supply"`
	FeePool uint64 `json:"fee_pool"`
	Held    uint64 `json:"market_held"` // escrow, stakes and unpaid earnings
}

// Query implements abci.Application. It answers from committed state only.
// With Prove, QueryKey and QueryAccount answers carry ProofOps (the
// account's are over its raw state value at AccountKey; see proof.go).
func (a *App) Query(_ context.Context, req *abci.QueryRequest) (*abci.QueryResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var v any
	var proveKey []byte // the state key an answer's proof is about
	switch req.Path {
	case QueryKey:
		return a.queryKey(req), nil
	case QueryAccount:
		addr, err := wallet.ParseAddress(string(req.Data))
		if err != nil {
			return &abci.QueryResponse{Code: CodeDecode, Codespace: Codespace, Log: err.Error(), Height: a.height}, nil
		}
		v = decodeAccount(a.committed(accountKey(addr)))
		proveKey = []byte(accountKey(addr))
	case QueryParams:
		v = Params{
			ChainID: string(a.committed(keyChainID)), MinFee: decodeUint(a.committed(keyMinFee)),
			Supply: decodeUint(a.committed(keySupply)), FeePool: decodeUint(a.committed(keyFeePool)),
			Held: market.Reader{KV: committedKV{a}}.Held(),
		}
	case QueryValidators:
		var vals []ValidatorInfo
		for _, k := range sortedPrefix(a.state.base, prefixValStake) {
			st := decodeUint(a.state.base[k])
			vals = append(vals, ValidatorInfo{PubKey: []byte(k[len(prefixValStake):]), Stake: st, Power: int64(st / PowerUnit)})
		}
		v = vals
	case QueryMarketParams:
		v = market.Reader{KV: committedKV{a}}.Params()
	case QueryProvider, QueryOwned, QueryLeases:
		addr, err := wallet.ParseAddress(string(req.Data))
		if err != nil {
			return &abci.QueryResponse{Code: CodeDecode, Codespace: Codespace, Log: err.Error(), Height: a.height}, nil
		}
		r := market.Reader{KV: committedKV{a}}
		switch req.Path {
		case QueryProvider:
			p, ok := r.Provider(addr)
			if !ok {
				return &abci.QueryResponse{Code: CodeNotFound, Codespace: Codespace, Log: addr.String() + " is not a provider", Height: a.height}, nil
			}
			v = p
		case QueryOwned:
			v = r.Owned(addr)
		default:
			v = r.Leases(addr)
		}
	case QueryDeals, QueryChallenges:
		addr, err := wallet.ParseAddress(string(req.Data))
		if err != nil {
			return &abci.QueryResponse{Code: CodeDecode, Codespace: Codespace, Log: err.Error(), Height: a.height}, nil
		}
		if r := (market.Reader{KV: committedKV{a}}); req.Path == QueryDeals {
			v = r.OwnedDeals(addr)
		} else {
			v = r.Challenges(addr)
		}
	case QueryIndex:
		owner, name, one := strings.Cut(string(req.Data), "/")
		addr, err := wallet.ParseAddress(owner)
		if err != nil {
			return &abci.QueryResponse{Code: CodeDecode, Codespace: Codespace, Log: err.Error(), Height: a.height}, nil
		}
		r := market.Reader{KV: committedKV{a}}
		if !one {
			v = r.IndexPointers(addr)
			break
		}
		p, ok := r.IndexPointer(addr, name)
		if !ok {
			return &abci.QueryResponse{Code: CodeNotFound, Codespace: Codespace, Log: "no index pointer " + name, Height: a.height}, nil
		}
		v = p
	case QueryDeal:
		d, ok := market.Reader{KV: committedKV{a}}.Deal(string(req.Data))
		if !market.ValidID(string(req.Data)) || !ok {
			return &abci.QueryResponse{Code: CodeNotFound, Codespace: Codespace, Log: "no deal " + string(req.Data), Height: a.height}, nil
		}
		v = d
	case QueryActiveDeals:
		v = market.Reader{KV: committedKV{a}}.ActiveDeals()
	case QueryRepairDeals:
		v = market.Reader{KV: committedKV{a}}.RepairDeals()
	case QueryProviders:
		v = market.Reader{KV: committedKV{a}}.Providers()
	case QueryOpen:
		v = market.Reader{KV: committedKV{a}}.Open()
	case QueryOrder, QueryBids:
		id := string(req.Data)
		r := market.Reader{KV: committedKV{a}}
		o, ok := r.Order(id)
		if !market.ValidID(id) || !ok {
			return &abci.QueryResponse{Code: CodeNotFound, Codespace: Codespace, Log: "no lease or order " + id, Height: a.height}, nil
		}
		v = o
		if req.Path == QueryBids {
			v = r.Bids(id)
		}
	default:
		return &abci.QueryResponse{Code: CodeUnknownQuery, Codespace: Codespace, Log: "unknown path " + req.Path, Height: a.height}, nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	res := &abci.QueryResponse{Code: CodeOK, Value: out, Height: a.height}
	if req.Prove && proveKey != nil {
		res.Key, res.ProofOps = proveKey, a.proofOps(proveKey)
	}
	return res, nil
}

func sortedPrefix(m map[string][]byte, prefix string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
