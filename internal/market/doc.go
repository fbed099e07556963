// Package market holds the marketplace's deterministic rules: provider
// registration and heartbeats, orders with escrow, bids, the auction that
// turns an order into a lease, lazy per-block settlement, closing with
// reason codes, and re-opening a lease under the same ID when its provider
// is lost. It does no I/O: the ABCI app hands it a KV over staged state and
// a Bank over accounts (docs/market.md).
//
// Consensus code: no clocks, no floats, no map iteration, no goroutines.
package market
