package wallet

import (
	"fmt"
	"strings"

	"github.com/tyler-smith/go-bip39"
)

// MnemonicWords is the length of a backup phrase: 24 BIP-39 English words
// carry the 256-bit seed plus an 8-bit checksum.
const MnemonicWords = 24

// Mnemonic returns the key's 32-byte seed as a 24-word BIP-39 (English)
// phrase. The phrase is the seed itself, not a BIP-32/SLIP-10 root: there
// are no derivation paths, and `wallet import --seed-file` of the same
// seed gives the same key.
func (k *Key) Mnemonic() (string, error) {
	return bip39.NewMnemonic(k.Seed())
}

// FromMnemonic restores a key from a 24-word phrase. Case and spacing do
// not matter; an unknown word or a wrong checksum is refused.
func FromMnemonic(phrase string) (*Key, error) {
	words := strings.Fields(strings.ToLower(phrase))
	if len(words) != MnemonicWords {
		return nil, fmt.Errorf("mnemonic has %d words, want %d", len(words), MnemonicWords)
	}
	seed, err := bip39.EntropyFromMnemonic(strings.Join(words, " "))
	if err != nil {
		return nil, fmt.Errorf("mnemonic: %v", err)
	}
	return FromSeed(seed)
}
