// Package state is the authenticated state store of Vistara's microchain: a
// compressed sparse Merkle tree (a binary trie over SHA-256 of each key)
// whose root is the app hash, with existence and absence proofs that a
// light client verifies against that hash, as CometBFT ProofOps.
//
// The tree is immutable: Update returns a new tree sharing every unchanged
// node with the old one, so the committed tree keeps answering queries while
// a block's changes are staged, and a block costs O(changes × log n)
// hashes, never a rehash of all state. Its root depends only on the set of
// key/value pairs (not on the order they were written in), which makes it
// identical on every node and lets a node rebuild it from a flat key/value
// store or a state-sync snapshot and check the result against the app hash.
//
// This is consensus code (STYLE.md §7): no clocks, no floats, no map
// iteration order. It imports nothing from Vistara.
package state
