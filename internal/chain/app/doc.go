// Package app is Vistara's ABCI application: the replicated state machine
// that CometBFT drives. It owns accounts (balance and nonce in uvis), the
// Transfer transaction and its strict canonical encoding, fees (a minimum
// fee parameter; fees go to the block proposer), genesis, the application
// hash, and persistence of committed state.
//
// Everything here is consensus code (STYLE.md §7): no wall clock, no map
// iteration order, no floats; invalid transactions are result codes, never
// Go errors. It must not import internal/hypercore, internal/spacecore,
// internal/storage, internal/provider or internal/node.
package app
