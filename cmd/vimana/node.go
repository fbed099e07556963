package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/node"
)

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Set up and run this machine as a Vistara node",
	}
	cmd.AddCommand(newNodeInitCmd())
	return cmd
}

func newNodeInitCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the node home: directories, node key and config.toml",
		Long: `init creates --home (default ~/.vimana) with an ed25519 node key (node_key.json,
mode 0600; never overwritten) and a config.toml with working loopback defaults.
It refuses to overwrite an existing config.toml unless --force. Every config key
is documented in docs/node.md.`,
		Example: "  vimana node init --home /var/lib/vimana",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := node.Init(cmd.Context(), g.home, node.InitOptions{Force: force})
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), res)
			}
			verb := "kept existing"
			if res.NewKey {
				verb = "created"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node home %s\n  config   %s\n  node key %s (%s)\n  public   %s\n  hardware %s\n", res.Home, res.Config, res.KeyFile, verb, res.PublicKey, res.Hardware)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing config.toml (the node key is kept)")
	return cmd
}
