package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

func newStoreRenewCmd() *cobra.Command {
	var blocks int64
	cmd := &cobra.Command{
		Use:   "renew BUCKET[/KEY]",
		Short: "Extend the storage deals of an object, or of every object in a bucket, and top up their escrow",
		Long: `Sends storage.renew for each deal (once for deals that copies share):
the expiry moves --blocks past the current one (default: the network's
deal_blocks) and the deposit is what the escrow then lacks to pay every
piece until the new expiry — which also restores escrow spent on repair
fees. Without renewal a deal ends at its expiry and its pieces are deleted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if blocks < 0 {
				return fmt.Errorf("--blocks %d: want a positive number of blocks", blocks)
			}
			bucket, key := splitPath(args[0])
			if bucket == "" {
				return fmt.Errorf("%q: want BUCKET or BUCKET/KEY", args[0])
			}
			c, _, _, err := openStore()
			if err != nil {
				return err
			}
			type result struct {
				Object string `json:"object"`
				objects.RenewedDeal
			}
			results := []result{}
			var deposit uint64
			rs, err := c.Renew(cmd.Context(), bucket, key, blocks, func(obj string, r objects.RenewedDeal) {
				results = append(results, result{obj, r})
				deposit += r.Deposit
				if !jsonOutput() {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: deal %s expiry %d → %d, deposited %s, escrow %s\n",
						obj, r.Deal, r.OldExpiry, r.Expiry, vis(r.Deposit), vis(r.Escrow))
				}
			})
			if err != nil && jsonOutput() && len(results) > 0 {
				// The renewals before the failure stand: report them.
				printJSON(cmd.OutOrStdout(), map[string]any{"renewed": results, "deposit": deposit, "error": err.Error()})
			}
			switch {
			case errors.Is(err, objects.ErrFunds):
				return fmt.Errorf("%w\n(%d deal(s) renewed before; fund the wallet with `vimana wallet send` and run again)", err, len(rs))
			case errors.Is(err, objects.ErrDealEnded):
				return fmt.Errorf("%w\n(%d deal(s) renewed before; an ended deal's pieces are gone: put the object again)", err, len(rs))
			case errors.Is(err, objects.ErrNoDeals):
				return fmt.Errorf("%w: only network \"chain\" has storage deals (%s)", err, storeConfigPath())
			case err != nil:
				return friendly(err, args[0])
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"renewed": results, "deposit": deposit})
			}
			if len(rs) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: no deals to renew (inline objects have none)\n", args[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "renewed %d deal(s), deposited %s\n", len(rs), vis(deposit))
			return nil
		},
	}
	cmd.Flags().Int64Var(&blocks, "blocks", 0, "blocks to add to each deal's expiry (default: the network's deal_blocks)")
	return cmd
}
