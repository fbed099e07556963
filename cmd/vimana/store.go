package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/storage"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// storeKeyName is --key of `vimana store` and `vimana s3` (empty: the
// config's key, default "tenant").
var storeKeyName string

// openedStore is the client a store command opened; the store command
// flushes its index after the command ran.
var openedStore *objects.Client

func storeConfigPath() string { return filepath.Join(g.home, "store", "config.toml") }

// openStore loads the store config and the wallet key and opens the client.
func openStore() (*objects.Client, *wallet.Key, objects.Config, error) {
	cfg, err := objects.LoadConfig(storeConfigPath())
	if err != nil {
		return nil, nil, cfg, err
	}
	name := storeKeyName
	if name == "" {
		name = cfg.Key
	}
	k, err := loadKey(name)
	if errors.Is(err, wallet.ErrNotFound) {
		return nil, nil, cfg, fmt.Errorf("no wallet key %q in %s: create one with `vimana wallet new %s` or pass --key NAME", name, filepath.Join(g.home, "keys"), name)
	} else if err != nil {
		return nil, nil, cfg, err
	}
	secret, err := storeSecret(cfg, k)
	if err != nil {
		return nil, nil, cfg, err
	}
	c, err := objects.OpenKeys(g.home, cfg, k.Seed(), secret)
	if err != nil {
		return nil, nil, cfg, err
	}
	c.Warn = func(err error) { // an overwrite whose old deal could not be closed
		fmt.Fprintf(os.Stderr, "warning: %v (the replaced object's deal runs to its expiry)\n", err)
	}
	if st, ok := replicatedIndex(c); ok {
		st.Warn = storeWarn
	}
	openedStore = c
	return c, k, cfg, nil
}

// storeSecret is what the storage keys derive from: the wallet key's seed,
// or with `secret = "passphrase"` argon2id of the passphrase in
// $VIMANA_STORE_PASSPHRASE or the config's passphrase_file.
func storeSecret(cfg objects.Config, k *wallet.Key) ([]byte, error) {
	if cfg.Secret != "passphrase" {
		return k.Seed(), nil
	}
	pass := []byte(os.Getenv("VIMANA_STORE_PASSPHRASE"))
	if len(pass) == 0 && cfg.PassphraseFile != "" {
		b, err := os.ReadFile(cfg.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("store config: passphrase_file: %w", err)
		}
		pass = bytes.TrimRight(b, "\r\n")
	}
	if len(pass) == 0 {
		return nil, fmt.Errorf("store config: secret = \"passphrase\": set VIMANA_STORE_PASSPHRASE or passphrase_file in %s", storeConfigPath())
	}
	return storage.PassphraseSecret(pass, k.Address().String())
}

// splitPath parses BUCKET[/KEY].
func splitPath(p string) (bucket, key string) {
	p = strings.TrimPrefix(p, "vimana://")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

// needObject parses BUCKET/KEY and insists on both.
func needObject(p string) (string, string, error) {
	b, k := splitPath(p)
	if b == "" || k == "" {
		return "", "", fmt.Errorf("%q: want BUCKET/KEY", p)
	}
	return b, k, nil
}

// friendly rewrites the index's error classes into what a user does next.
func friendly(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, index.ErrNotFound):
		return fmt.Errorf("%s: not found (vimana store ls lists buckets and objects)", what)
	case errors.Is(err, index.ErrNotEmpty):
		return fmt.Errorf("%s: bucket is not empty: remove its objects first", what)
	case errors.Is(err, index.ErrAlreadyExists):
		return fmt.Errorf("%s: already exists", what)
	}
	return err
}

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Encrypted, erasure-coded object storage: buckets and objects",
		Long: `Objects are cut into segments, encrypted on this machine with keys derived
from your wallet key, Reed-Solomon coded and spread over piece stores. The
bucket index is encrypted too (docs/storage.md). By default pieces go to a
local network of directories under <home>/store/pieces (no devnet needed);
<home>/store/config.toml selects another network.`,
	}
	cmd.PersistentFlags().StringVar(&storeKeyName, "key", "", `wallet key that owns the objects (default: config key, "tenant")`)
	cmd.PersistentFlags().StringVar(&passphraseFile, "passphrase-file", "", "file holding the keystore passphrase")
	cmd.PersistentPostRunE = func(*cobra.Command, []string) error {
		if openedStore == nil {
			return nil
		}
		return flushStore(openedStore)
	}
	cmd.AddCommand(newStoreMbCmd(), newStoreRbCmd(), newStorePutCmd(), newStoreGetCmd(), newStoreLsCmd(),
		newStoreRmCmd(), newStoreStatCmd(), newStoreShareCmd(), newStoreRenewCmd(), newStoreSyncCmd())
	return cmd
}

func newStoreMbCmd() *cobra.Command {
	var k, m, segMiB int
	var allow, deny []string
	cmd := &cobra.Command{
		Use:   "mb BUCKET",
		Short: "Make a bucket (its coding parameters and regions are fixed at creation)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, cfg, err := openStore()
			if err != nil {
				return err
			}
			p := cfg.Params()
			if cmd.Flags().Changed("k") {
				p.K = k
			}
			if cmd.Flags().Changed("m") {
				p.M = m
			}
			if cmd.Flags().Changed("segment-size") {
				p.SegmentSize = segMiB << 20
			}
			bc := index.BucketConfig{Params: p, AllowedRegions: allow, DeniedRegions: deny}
			if err := c.CreateBucket(cmd.Context(), args[0], bc); err != nil {
				return friendly(err, "bucket "+args[0])
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"bucket": args[0], "config": bc})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%d+%d, %d MiB segments)\n", args[0], p.K, p.M, p.SegmentSize>>20)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&k, "k", 0, "data pieces per segment (default: config k, 4)")
	f.IntVar(&m, "m", 0, "parity pieces per segment (default: config m, 2)")
	f.IntVar(&segMiB, "segment-size", 0, "segment size in MiB (default: config segment_size, 64)")
	f.StringArrayVar(&allow, "allow-region", nil, "place pieces only in this region (repeatable)")
	f.StringArrayVar(&deny, "deny-region", nil, "never place pieces in this region (repeatable)")
	return cmd
}

func newStoreRbCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rb BUCKET",
		Short: "Remove an empty bucket",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := openStore()
			if err != nil {
				return err
			}
			if err := c.Index.DeleteBucket(cmd.Context(), args[0]); err != nil {
				return friendly(err, "bucket "+args[0])
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"removed": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
}

func newStoreRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm BUCKET/KEY…",
		Short: "Remove objects",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := openStore()
			if err != nil {
				return err
			}
			type result struct {
				Path   string               `json:"path"`
				Closed []objects.ClosedDeal `json:"closed,omitempty"` // deals ended by this rm, with their refunds
				Shared []string             `json:"shared,omitempty"` // deals a copy still uses: left running
				Error  string               `json:"error,omitempty"`  // deals that could not be closed (they run to expiry)
			}
			var removed []string
			var results []result
			var refund uint64
			for _, a := range args {
				b, k, err := needObject(a)
				if err != nil {
					return err
				}
				rel, err := c.Delete(cmd.Context(), b, k)
				if err != nil {
					return friendly(err, a)
				}
				r := result{Path: a, Closed: rel.Closed, Shared: rel.Shared}
				if rel.Err != nil {
					r.Error = rel.Err.Error()
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: %v (the object is removed; the deal runs to its expiry)\n", a, rel.Err)
				}
				refund += rel.Refund()
				removed = append(removed, a)
				results = append(results, r)
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"removed": removed, "objects": results, "refund": refund})
			}
			for _, r := range results {
				var notes []string
				for _, d := range r.Closed {
					if d.State == market.DealClosed {
						notes = append(notes, fmt.Sprintf("deal %s closed, %s refunded", d.Deal, vis(d.Refund)))
					} else {
						notes = append(notes, fmt.Sprintf("deal %s already %s", d.Deal, d.State))
					}
				}
				for _, d := range r.Shared {
					notes = append(notes, fmt.Sprintf("deal %s kept: a copy uses it", d))
				}
				if len(notes) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s (%s)\n", r.Path, strings.Join(notes, "; "))
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", r.Path)
				}
			}
			return nil
		},
	}
}
