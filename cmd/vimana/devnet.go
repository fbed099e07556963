package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/node"
)

func newDevnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local network of vimana nodes (validators + providers) on 127.0.0.1",
		Long: `devnet creates N node homes under --home, one genesis with N validators and a
funded tenant and provider wallets (keys in <home>/keys, empty passphrase), and
starts N separate "vimana node start" processes on free 127.0.0.1 ports. The
processes keep running after "devnet up" returns; "devnet down" stops them and
"devnet up" again restarts the same network. <home>/vimana.sock points at node 0,
so "vimana --home DIR spacecore ..." talks to the devnet.`,
	}
	cmd.AddCommand(newDevnetUpCmd(), newDevnetStatusCmd(), newDevnetDownCmd())
	return cmd
}

func printDevnet(cmd *cobra.Command, d *node.Devnet) error {
	if jsonOutput() {
		return printJSON(cmd.OutOrStdout(), d)
	}
	var rows [][]string
	for _, n := range d.Nodes {
		rows = append(rows, []string{fmt.Sprint(n.Index), fmt.Sprint(n.Pid), fmt.Sprint(n.Alive), fmt.Sprint(n.Height), n.RPC, n.API, n.Gateway})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "chain %s, tenant %s\n", d.ChainID, d.Tenant)
	if r := d.Registry; r != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "registry %s (pid %d, alive %v); node 0 is the edge gateway, nodes 1+ are providers\n", r.Addr, r.Pid, r.Alive)
	}
	return printTable(cmd.OutOrStdout(), []string{"NODE", "PID", "ALIVE", "HEIGHT", "RPC", "API", "GATEWAY"}, rows)
}

func newDevnetUpCmd() *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:     "up",
		Short:   "Create or restart the devnet; returns once every node produces blocks",
		Example: "  vimana devnet up --nodes 4 --home ./.devnet",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "starting a %d-node devnet in %s ...\n", n, g.home)
			d, err := node.DevnetUp(cmd.Context(), g.home, n, bin)
			if err != nil {
				return err
			}
			return printDevnet(cmd, d)
		},
	}
	cmd.Flags().IntVar(&n, "nodes", 4, "number of nodes (1-16)")
	return cmd
}

func newDevnetStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show each node's pid, liveness, block height and addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := node.LoadDevnet(g.home)
			if err != nil {
				return err
			}
			d.Status(cmd.Context())
			return printDevnet(cmd, d)
		},
	}
}

func newDevnetDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the devnet's spacecores and stop every node (chain state is kept for the next up)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := node.LoadDevnet(g.home)
			if err != nil {
				return err
			}
			d.Down()
			fmt.Fprintf(cmd.OutOrStdout(), "devnet in %s stopped\n", g.home)
			return nil
		},
	}
}
