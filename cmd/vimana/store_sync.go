package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/storage/chainnet"
	"github.com/vistara-labs/vimana/internal/storage/index"
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
		return fmt.Errorf("the change is saved on this machine, but replicating the bucket index to the network failed (run vimana store sync): %w", err)
	}
	return nil
}

func newStoreSyncCmd() *cobra.Command {
	var renewWithin int64
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Make this machine's bucket index and the network's agree: push local changes, pull newer ones",
		Long: `On the "chain" network the encrypted bucket index is kept on the network too
(one sealed blob per bucket, with a pointer on chain), so a new home with the
same wallet key finds every bucket. store commands replicate before they
return and the S3 gateway within index_delay; sync pushes every bucket whose
local index is newer than the chain's (changes left behind by a crash or an
unreachable chain) and pulls every newer or missing one, then reports each.
A bucket index stored under a deal that ends within --renew-within blocks
(default: half of deal_blocks) is stored again under a new deal ("renewed");
run sync at least that often for buckets that do not change.`,
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
			res, err := st.Sync(ctx, c.Index.Owns)
			if err != nil {
				return err
			}
			buckets := map[string]string{} // blob name → bucket
			if bs, err := c.Index.Buckets(ctx); err == nil {
				for _, b := range bs {
					buckets[c.Index.BlobName(b.Name)] = b.Name
				}
			}
			// Blobs under a deal that ends within renewWithin blocks are
			// rewritten at the next version, which stores them under a new
			// deal (and closes the old one).
			within := renewWithin
			if within <= 0 {
				within = st.Net.DealBlocks / 2
			}
			expiring, err := st.Expiring(ctx, within)
			if err != nil {
				return err
			}
			for _, b := range slices.Sorted(maps.Keys(buckets)) {
				if !slices.Contains(expiring, b) {
					continue
				}
				r := chainnet.SyncedBlob{Name: b, Action: "renewed"}
				if err := c.Index.Touch(ctx, buckets[b]); err != nil {
					r.Action, r.Err = "failed", err.Error()
				} else if blob, err := st.Local.Read(ctx, b); err == nil {
					r.Version, _ = index.BlobVersion(blob)
				}
				res = append(res, r)
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
	cmd.Flags().Int64Var(&renewWithin, "renew-within", 0, "renew index blobs whose deal ends within this many blocks (0: half of deal_blocks)")
	return cmd
}

// storeWarn prints replication trouble nobody waits for.
func storeWarn(err error) { fmt.Fprintf(os.Stderr, "warning: %v\n", err) }
