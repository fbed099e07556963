// Package chain runs Vistara's microchain: CometBFT embedded in-process
// with the ABCI application of internal/chain/app over a local client. It
// owns the node's home directory layout (CometBFT config, keys, genesis,
// block store and the app's state file), genesis creation for a single
// validator, and starting and stopping the node.
//
// It must not import internal/hypercore, internal/spacecore,
// internal/storage, internal/provider or internal/node (the node imports it).
package chain
