package main

// The store's networks beyond the built-in "local" one: one list, each
// registers itself with objects.RegisterNetwork at init.
import (
	_ "github.com/vistara-labs/vimana/internal/storage/chainnet" // "chain": providers on chain
)
