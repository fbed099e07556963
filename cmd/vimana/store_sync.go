package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/storage/chainnet"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

// replicatedIndex is c's network-replicated index store, if it has one.
func replicatedIndex(c *objects.Client) (*chainnet.IndexStore, bool) {
	st, ok := c.Index.Store().(*chainnet.IndexStore)
	return st, ok
}

// flushStore replicates index changes c still holds back before the
// command exits, so a mutating `vimana store` command leaves the index
// on the network (a no-op when every write already replicated).
func flushStore(c *objects.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		return fmt.Errorf("replicating the bucket index (run vimana store sync): %w", err)
	}
	return nil
}

func newStoreSyncCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sync",
		Short: "Make this machine's bucket index and the network's agree: push local changes, pull newer ones",
		Long: `On the "chain" network the encrypted bucket index is kept on the network too
(one sealed blob per bucket, with a pointer on chain), so a new home with the
same wallet key finds every bucket. store commands replicate before they
return and the S3 gateway within index_delay; sync pushes every bucket whose
local index is newer than the chain's (changes left behind by a crash or an
unreachable chain) and pulls every newer or missing one, then reports each.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, cfg, err := openStore()
			if err != nil {
				return err
			}
			st, ok := replicatedIndex(c)
			if !ok {
				return fmt.Errorf("the %q network keeps the bucket index only on this machine: nothing to sync", cfg.Network)
			}
			ctx := cmd.Context()
			res, err := st.Sync(ctx)
			if err != nil {
				return err
			}
			buckets := map[string]string{} // blob name → bucket
			if bs, err := c.Index.Buckets(ctx); err == nil {
				for _, b := range bs {
					buckets[c.Index.BlobName(b.Name)] = b.Name
				}
			}
			type row struct {
				Bucket  string `json:"bucket,omitempty"`
				Blob    string `json:"blob"`
				Version uint64 `json:"version"`
				Action  string `json:"action"`
				Error   string `json:"error,omitempty"`
			}
			var rows []row
			failed := 0
			for _, r := range res {
				rows = append(rows, row{Bucket: buckets[r.Name], Blob: r.Name, Version: r.Version, Action: r.Action, Error: r.Err})
				if r.Action == "failed" || r.Action == "conflict" {
					failed++
				}
			}
			if jsonOutput() {
				if err := printJSON(cmd.OutOrStdout(), rows); err != nil {
					return err
				}
			} else {
				var tab [][]string
				for _, r := range rows {
					b := r.Bucket
					if b == "" {
						b = "(" + r.Blob + ")" // not a bucket of this key, or unreadable
					}
					tab = append(tab, []string{b, fmt.Sprint(r.Version), r.Action, r.Error})
				}
				if err := printTable(cmd.OutOrStdout(), []string{"BUCKET", "VERSION", "ACTION", "ERROR"}, tab); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d bucket index(es) not in sync (see above)", failed)
			}
			return nil
		},
	}
}

// storeWarn prints replication trouble nobody waits for.
func storeWarn(err error) { fmt.Fprintf(os.Stderr, "warning: %v\n", err) }
