package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/node"
	"github.com/vistara-labs/vimana/internal/wallet"
)

var rpcURL string

// chainClient finds the chain: --rpc, else the devnet in --home (node 0),
// else this node's [chain] rpc_listen.
func chainClient() (*chain.Client, error) {
	if rpcURL != "" {
		return &chain.Client{RPC: rpcURL}, nil
	}
	if d, err := node.LoadDevnet(g.home); err == nil && len(d.Nodes) > 0 {
		return &chain.Client{RPC: d.Nodes[0].RPC}, nil
	}
	cfg, err := node.LoadConfig(g.home)
	if err != nil {
		return nil, fmt.Errorf("no --rpc, no devnet and no node config in %s: %w", g.home, err)
	}
	return &chain.Client{RPC: "http://" + cfg.Chain.RPCListen}, nil
}

// addressOf accepts a key name in the keystore or a vis1… address.
func addressOf(s string) (wallet.Address, error) {
	if strings.HasPrefix(s, "vis1") {
		return wallet.ParseAddress(s)
	}
	ks, err := keystore()
	if err != nil {
		return wallet.Address{}, err
	}
	list, err := ks.List()
	if err != nil {
		return wallet.Address{}, err
	}
	for _, e := range list {
		if e.Name == s {
			return e.Address, nil
		}
	}
	return wallet.Address{}, fmt.Errorf("%w: no key %q in %s/keys and not a vis1… address", hypercore.ErrNotFound, s, g.home)
}

func newWalletBalanceCmd() *cobra.Command {
	var prove bool
	var witnesses []string
	cmd := &cobra.Command{
		Use:   "balance NAME|ADDRESS",
		Short: "Show an account's committed balance and nonce (--prove: verified by a light client)",
		Long: `balance reads the account from the chain. With --prove the node must send a
Merkle proof, which is checked against the app hash in the next block's header,
itself verified by CometBFT's light client from the header at height 1 (trusted
on first use) with --witness nodes cross-checking the primary (default: the
devnet's other nodes). A forged answer fails instead of printing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := addressOf(args[0])
			if err != nil {
				return err
			}
			c, err := chainClient()
			if err != nil {
				return err
			}
			if !prove {
				acc, err := c.Account(cmd.Context(), addr)
				if err != nil {
					return err
				}
				if jsonOutput() {
					return printJSON(cmd.OutOrStdout(), map[string]any{"address": addr.String(), "balance_uvis": acc.Balance, "nonce": acc.Nonce})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%d uvis), nonce %d\n", addr, vis(acc.Balance), acc.Balance, acc.Nonce)
				return nil
			}
			if len(witnesses) == 0 {
				if d, err := node.LoadDevnet(g.home); err == nil {
					for _, n := range d.Nodes {
						if n.RPC != c.RPC {
							witnesses = append(witnesses, n.RPC)
						}
					}
				}
			}
			p, err := c.Params(cmd.Context())
			if err != nil {
				return err
			}
			v, err := chain.NewVerifier(cmd.Context(), c, p.ChainID, witnesses, 1, nil)
			if err != nil {
				return err
			}
			acc, pr, err := v.Account(cmd.Context(), addr)
			if err != nil {
				return fmt.Errorf("verification failed: %w", err)
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"address": addr.String(), "balance_uvis": acc.Balance, "nonce": acc.Nonce,
					"verified": true, "height": pr.Height, "header": pr.Header, "app_hash": pr.AppHash})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%d uvis), nonce %d — verified=true at height %d (app hash %s… in light-client-verified header %d)\n",
				addr, vis(acc.Balance), acc.Balance, acc.Nonce, pr.Height, pr.AppHash[:16], pr.Header)
			return nil
		},
	}
	cmd.Flags().BoolVar(&prove, "prove", false, "verify the answer with a Merkle proof and a light client")
	cmd.Flags().StringArrayVar(&witnesses, "witness", nil, "witness node RPC URL for the light client (repeatable; default: the devnet's other nodes)")
	return cmd
}

func vis(uvis uint64) string { return fmt.Sprintf("%d.%06d VIS", uvis/1_000_000, uvis%1_000_000) }

func newWalletSendCmd() *cobra.Command {
	var fee string
	cmd := &cobra.Command{
		Use:     "send FROM TO AMOUNT",
		Short:   "Sign and submit a transfer (AMOUNT like 5vis, 0.5vis or 1000uvis)",
		Example: "  vimana --home .devnet wallet send tenant provider-0 2.5vis",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := hac.ParseTokens(args[2])
			if err != nil {
				return fmt.Errorf("amount %q: %w", args[2], err)
			}
			feeU := int64(0)
			if fee != "" {
				if feeU, err = hac.ParseTokens(fee); err != nil {
					return fmt.Errorf("--fee %q: %w", fee, err)
				}
			}
			to, err := addressOf(args[1])
			if err != nil {
				return err
			}
			k, err := loadKey(args[0])
			if err != nil {
				return err
			}
			c, err := chainClient()
			if err != nil {
				return err
			}
			res, err := c.Transfer(cmd.Context(), k, to, uint64(amount), uint64(feeU))
			if err != nil {
				return err
			}
			if jsonOutput() {
				if err := printJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			} else if res.Code == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "accepted %s\n", res.Hash)
			}
			if res.Code != 0 {
				return errors.New("refused (code " + fmt.Sprint(res.Code) + "): " + res.Log)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&fee, "fee", "", "fee (default: the chain's minimum)")
	return cmd
}
