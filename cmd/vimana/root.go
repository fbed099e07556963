package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// globals are the flags every command has.
type globals struct {
	home   string
	output string // "table" | "json"
}

var g globals

func defaultHome() string {
	if h := os.Getenv("VIMANA_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".vimana")
	}
	return ".vimana"
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "vimana",
		Short: "Vistara: run spacecores on a decentralized cloud",
		Long: `vimana is Vistara's one binary. It runs spacecores (workloads described in
hac.toml) in sandboxes on this machine, runs a node daemon that rents out
this machine's hardware, and is the client for tenants.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.home, "home", defaultHome(), "vimana home directory (env VIMANA_HOME)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table|json")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		return validateOutput(g.output)
	}
	for _, c := range subcommands() {
		root.AddCommand(c())
	}
	return root
}

// subcommands is the one list of top-level commands.
func subcommands() []func() *cobra.Command {
	return []func() *cobra.Command{
		newVersionCmd,
		newRunCmd,
		newHacCmd,
		newImageCmd,
		newHardwareCmd,
		newNodeCmd,
		newSpacecoreCmd,
		newWalletCmd,
		newDevnetCmd,
		newDeployCmd,
		newLeaseCmd,
		newRegistryCmd,
		newProviderCmd,
		newStakeCmd,
		newUnstakeCmd,
		newValidatorsCmd,
		newStoreCmd,
		newS3Cmd,
	}
}
