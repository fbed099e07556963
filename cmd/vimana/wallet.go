package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// passphrase comes from --passphrase-file, else $VIMANA_PASSPHRASE, else
// empty (devnet keys). It is never printed or logged.
var passphraseFile string

func passphrase() ([]byte, error) {
	if passphraseFile != "" {
		b, err := os.ReadFile(passphraseFile)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	return []byte(os.Getenv("VIMANA_PASSPHRASE")), nil
}

func keystore() (*wallet.Keystore, error) { return wallet.OpenKeystore(filepath.Join(g.home, "keys")) }

// loadKey decrypts a named key with the passphrase.
func loadKey(name string) (*wallet.Key, error) {
	ks, err := keystore()
	if err != nil {
		return nil, err
	}
	pass, err := passphrase()
	if err != nil {
		return nil, err
	}
	return ks.Load(name, pass)
}

func newWalletCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Manage ed25519 wallet keys (vis… addresses) in <home>/keys",
		Long: `Keys are stored one per file in <home>/keys, encrypted with a passphrase taken
from --passphrase-file or $VIMANA_PASSPHRASE (empty if neither is set: fine for
devnets, not for real funds). balance and send talk to the chain's CometBFT RPC.`,
	}
	cmd.PersistentFlags().StringVar(&passphraseFile, "passphrase-file", "", "file holding the keystore passphrase")
	cmd.AddCommand(newWalletNewCmd(), newWalletImportCmd(), newWalletListCmd(), newWalletShowCmd(), newWalletBalanceCmd(), newWalletSendCmd())
	cmd.PersistentFlags().StringVar(&rpcURL, "rpc", "", "chain RPC URL (default: the devnet in --home, else this node's [chain] rpc_listen)")
	return cmd
}

// storeKey encrypts k into the keystore under name.
func storeKey(name string, k *wallet.Key) error {
	ks, err := keystore()
	if err != nil {
		return err
	}
	pass, err := passphrase()
	if err != nil {
		return err
	}
	return ks.Save(name, k, pass)
}

// saveKey stores k and prints its name and address.
func saveKey(cmd *cobra.Command, name string, k *wallet.Key) error {
	if err := storeKey(name, k); err != nil {
		return err
	}
	if jsonOutput() {
		return printJSON(cmd.OutOrStdout(), map[string]string{"name": name, "address": k.Address().String()})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", name, k.Address())
	return nil
}

func newWalletNewCmd() *cobra.Command {
	var mnemonic bool
	cmd := &cobra.Command{
		Use:   "new NAME [--mnemonic]",
		Short: "Create a key and print its address (and, with --mnemonic, its 24-word backup phrase, once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := wallet.Generate(rand.Reader)
			if err != nil {
				return err
			}
			if !mnemonic {
				return saveKey(cmd, args[0], k)
			}
			phrase, err := k.Mnemonic()
			if err != nil {
				return err
			}
			if err := storeKey(args[0], k); err != nil {
				return err
			}
			// Printed once, never stored: the keystore file is the only other copy.
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"name": args[0], "address": k.Address().String(), "mnemonic": phrase})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n\nBackup phrase (write it down; it is not shown again; restore with\n'vimana wallet import NAME --mnemonic-file FILE'):\n\n%s\n", args[0], k.Address(), phrase)
			return nil
		},
	}
	cmd.Flags().BoolVar(&mnemonic, "mnemonic", false, "print a 24-word BIP-39 backup phrase once")
	return cmd
}

func newWalletImportCmd() *cobra.Command {
	var seedFile, mnemonicFile string
	cmd := &cobra.Command{
		Use:   "import NAME --seed-file FILE | --mnemonic-file FILE",
		Short: "Import a key from a file holding its 32-byte ed25519 seed in hex, or its 24-word backup phrase",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (seedFile == "") == (mnemonicFile == "") {
				return fmt.Errorf("give one of --seed-file or --mnemonic-file (secrets are never taken on the command line)")
			}
			var k *wallet.Key
			if mnemonicFile != "" {
				b, err := os.ReadFile(mnemonicFile)
				if err != nil {
					return err
				}
				if k, err = wallet.FromMnemonic(string(b)); err != nil {
					return fmt.Errorf("%s: %w", mnemonicFile, err)
				}
				return saveKey(cmd, args[0], k)
			}
			b, err := os.ReadFile(seedFile)
			if err != nil {
				return err
			}
			seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
			if err != nil {
				return fmt.Errorf("%s: not hex", seedFile)
			}
			if k, err = wallet.FromSeed(seed); err != nil {
				return err
			}
			return saveKey(cmd, args[0], k)
		},
	}
	cmd.Flags().StringVar(&seedFile, "seed-file", "", "file with the hex seed")
	cmd.Flags().StringVar(&mnemonicFile, "mnemonic-file", "", "file with the 24-word backup phrase")
	return cmd
}

func newWalletListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List keys (names and addresses; no passphrase needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := keystore()
			if err != nil {
				return err
			}
			list, err := ks.List()
			if err != nil {
				return err
			}
			if jsonOutput() {
				if list == nil {
					list = []wallet.Entry{}
				}
				return printJSON(cmd.OutOrStdout(), list)
			}
			var rows [][]string
			for _, e := range list {
				rows = append(rows, []string{e.Name, e.Address.String()})
			}
			return printTable(cmd.OutOrStdout(), []string{"NAME", "ADDRESS"}, rows)
		},
	}
}

func newWalletShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Decrypt a key and show its address and public key (never the private key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := loadKey(args[0])
			if err != nil {
				return err
			}
			out := map[string]string{"name": args[0], "address": k.Address().String(), "public_key": hex.EncodeToString(k.PubKey())}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "name       %s\naddress    %s\npublic key %s\n", out["name"], out["address"], out["public_key"])
			return nil
		},
	}
}
