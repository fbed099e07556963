package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/node"
)

// providerSigner signs as this node's provider account (the node key in
// --home) against the chain the node uses.
func providerSigner() (*chain.Signer, error) {
	nk, err := node.LoadKey(g.home)
	if err != nil {
		return nil, err
	}
	wk, err := nk.WalletKey()
	if err != nil {
		return nil, err
	}
	c := &chain.Client{RPC: rpcURL}
	if rpcURL == "" {
		cfg, err := node.LoadConfig(g.home)
		if err != nil {
			return nil, err
		}
		c.RPC = "http://" + cfg.Chain.RPCListen
		if cfg.Provider.ChainRPC != "" {
			c.RPC = cfg.Provider.ChainRPC
		}
	}
	return &chain.Signer{C: c, Key: wk}, nil
}

func newProviderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "provider",
		Short: "This node as a marketplace provider: status, withdraw, close a lease, deregister",
		Long: `The provider agent in ` + "`vimana node start`" + ` (config [provider] enabled = true)
registers, heartbeats, bids and runs leases by itself (docs/market.md). These
commands act as the same account — the node key in --home — for what an
operator decides by hand.`,
	}
	cmd.PersistentFlags().StringVar(&rpcURL, "rpc", "", "chain RPC URL (default: the node's [provider] chain_rpc or [chain] rpc_listen)")
	cmd.AddCommand(newProviderStatusCmd(), newProviderWithdrawCmd(), newProviderCloseCmd(), newProviderDeregisterCmd())
	return cmd
}

func newProviderStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use: "status", Short: "Show this node's provider record on chain and its leases", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := providerSigner()
			if err != nil {
				return err
			}
			p, err := s.C.Provider(cmd.Context(), s.Key.Address())
			if err != nil {
				return fmt.Errorf("%s: %w (is [provider] enabled and the node running?)", s.Key.Address(), err)
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), p)
			}
			return printTable(cmd.OutOrStdout(), []string{"ADDRESS", "STATUS", "REPUTATION", "STAKE", "EARNED", "LEASES", "CPU(m) USED/CAP", "INGRESS"},
				[][]string{{p.Address.String(), p.Status, fmt.Sprint(p.Reputation), fmt.Sprint(p.Stake), fmt.Sprint(p.Earned), fmt.Sprint(len(p.Leases)),
					fmt.Sprintf("%d/%d", p.Used.CPUMilli, p.Capacity.CPUMilli), p.Ingress}})
		},
	}
}

func providerTx(use, short string, args cobra.PositionalArgs, msg func(args []string) (string, any)) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := providerSigner()
			if err != nil {
				return err
			}
			typ, m := msg(a)
			_, res, err := s.SubmitAndWait(cmd.Context(), typ, m.(market.Msg), 30*time.Second)
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s committed at height %d\n", typ, res.Height)
			return nil
		},
	}
}

func newProviderWithdrawCmd() *cobra.Command {
	return providerTx("withdraw", "Settle every lease and move the earnings to the node's balance", cobra.NoArgs,
		func([]string) (string, any) { return market.TypeWithdraw, &market.Withdraw{} })
}

func newProviderCloseCmd() *cobra.Command {
	return providerTx("close LEASE", "Close a lease this node serves, after the chain's notice period", cobra.ExactArgs(1),
		func(a []string) (string, any) { return market.TypeClose, &market.Close{Lease: a[0]} })
}

func newProviderDeregisterCmd() *cobra.Command {
	return providerTx("deregister", "Leave the market: leases move to other providers, the stake returns after unbonding", cobra.NoArgs,
		func([]string) (string, any) { return market.TypeDeregister, &market.Deregister{} })
}
