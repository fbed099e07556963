package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/buildinfo"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the vimana version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := buildinfo.Get()
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), info)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "vimana %s (commit %s, %s, %s/%s)\n",
				info.Version, info.Commit, info.GoVersion, info.OS, info.Arch)
			return err
		},
	}
}
