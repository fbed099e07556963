package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/node"
)

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Set up and run this machine as a Vistara node",
	}
	cmd.AddCommand(newNodeInitCmd(), newNodeStartCmd())
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

func newNodeStartCmd() *cobra.Command {
	var logFormat string
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the node daemon (supervisor, API, gateway, metrics) in the foreground",
		Long: `start runs the node daemon on the home made by "vimana node init": the spacecore
supervisor (spacecores survive a daemon stop or crash and are re-adopted at the
next start), the node API on [api] listen (signed requests) and on the unix
socket <home>/vimana.sock (local admin), the ingress gateway on [gateway] listen,
and Prometheus metrics on [metrics] listen. SIGINT/SIGTERM stop it gracefully.
deploy/vimana.service runs it under systemd. Needs root for sandboxes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log := newLogger(cmd.ErrOrStderr(), logFormat)
			return node.Run(cmd.Context(), g.home, log, nil)
		},
	}
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text|json")
	return cmd
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
