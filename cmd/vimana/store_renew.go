package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

func newStoreRenewCmd() *cobra.Command {
	var (
		blocks, within int64
		all            bool
	)
	cmd := &cobra.Command{
		Use:   "renew [BUCKET[/KEY] | --all [--within N]]",
		Short: "Extend the storage deals of an object, a bucket or everything you store, and top up their escrow",
		Long: `Sends storage.renew for each deal (once for deals that copies share):
the expiry moves --blocks past the current one (default: the network's
deal_blocks) and the deposit is what the escrow then lacks to pay every
piece until the new expiry — which also restores escrow spent on repair
fees. Without renewal a deal ends at its expiry and its pieces are deleted.

With no argument (or --all) every object's deal in every bucket is renewed
by deal_blocks, and so are the deals of the bucket index blobs (as store
sync --renew-within does); --within N renews only the deals that end
within N blocks of the current height and lists the others as skipped,
with their expiry. A deal that cannot be renewed is listed as failed and
the rest go on; an insufficient balance stops the run. The S3 gateway can
do this unattended (auto_renew_within in the store config).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if within < 0 {
				return fmt.Errorf("--within %d: want a positive number of blocks", within)
			}
			if len(args) == 0 || all {
				if len(args) > 0 {
					return fmt.Errorf("--all renews every bucket: drop %q", args[0])
				}
				if blocks != 0 {
					return fmt.Errorf("--blocks goes with BUCKET[/KEY]; --all renews by the network's deal_blocks")
				}
				return renewAll(cmd, within)
			}
			if within != 0 {
				return fmt.Errorf("--within goes with --all")
			}
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
	cmd.Flags().BoolVar(&all, "all", false, "renew every object's deal in every bucket, and the index blobs' deals (the default without an argument)")
	cmd.Flags().Int64Var(&within, "within", 0, "with --all: renew only deals ending within this many blocks (0: every deal)")
	return cmd
}

// renewAll is `store renew --all [--within N]`: objects.Client.RenewWithin
// with a progress line per renewal (stderr) and a table of every deal.
func renewAll(cmd *cobra.Command, within int64) error {
	c, _, cfg, err := openStore()
	if err != nil {
		return err
	}
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	rep, err := c.RenewWithin(cmd.Context(), within, func(r objects.Renewal) {
		if jsonOutput() || r.Action == objects.Skipped {
			return
		}
		what := r.Object
		if r.Kind == "index" {
			what = "index of " + r.Object
		}
		if r.Action == objects.Failed {
			fmt.Fprintf(errw, "%s: deal %s: failed: %s\n", what, r.Deal, r.Error)
			return
		}
		fmt.Fprintf(errw, "%s: renewed %s\n", what, renewedWhat(r))
	})
	if errors.Is(err, objects.ErrNoDeals) {
		if jsonOutput() {
			return printJSON(out, rep)
		}
		fmt.Fprintf(out, "no deals: network %q stores without them (only \"chain\" has storage deals)\n", cfg.Network)
		return nil
	}
	if len(rep.Renewals) > 0 || err == nil {
		if perr := printRenewals(out, rep); perr != nil {
			return perr
		}
	}
	switch {
	case errors.Is(err, objects.ErrFunds):
		return fmt.Errorf("%w\n(%d deal(s) renewed before, %s deposited; fund the wallet with `vimana wallet send` and run again)", err, rep.Renewed, vis(rep.Deposit))
	case err != nil:
		return err
	case rep.Failed > 0:
		return fmt.Errorf("%d deal(s) not renewed (see above); an ended deal's pieces are gone: put the object again", rep.Failed)
	}
	return nil
}

func renewedWhat(r objects.Renewal) string {
	if r.Kind == "index" {
		return "(stored again under a new deal)"
	}
	return fmt.Sprintf("deal %s expiry %d → %d, deposited %s", r.Deal, r.OldExpiry, r.Expiry, vis(r.Deposit))
}

func printRenewals(w io.Writer, rep objects.RenewReport) error {
	if jsonOutput() {
		return printJSON(w, rep)
	}
	if len(rep.Renewals) == 0 {
		_, err := fmt.Fprintln(w, "no deals to renew (inline objects and empty buckets have none)")
		return err
	}
	var tab [][]string
	for _, r := range rep.Renewals {
		expiry := fmt.Sprint(r.Expiry)
		if r.Action == objects.Renewed && r.Kind == "object" {
			expiry = fmt.Sprintf("%d → %d", r.OldExpiry, r.Expiry)
		} else if r.Kind == "index" || r.Action == objects.Failed {
			expiry = "-"
		}
		deposit := "-"
		if r.Action == objects.Renewed && r.Kind == "object" {
			deposit = vis(r.Deposit)
		}
		tab = append(tab, []string{r.Kind, r.Object, r.Deal, r.Action, expiry, deposit, r.Error})
	}
	if err := printTable(w, []string{"KIND", "OBJECT", "DEAL", "ACTION", "EXPIRY", "DEPOSIT", "ERROR"}, tab); err != nil {
		return err
	}
	at := ""
	if rep.Within > 0 {
		at = fmt.Sprintf(" (within %d blocks of height %d)", rep.Within, rep.Height)
	}
	_, err := fmt.Fprintf(w, "renewed %d, skipped %d, failed %d%s; deposited %s\n", rep.Renewed, rep.Skipped, rep.Failed, at, vis(rep.Deposit))
	return err
}
