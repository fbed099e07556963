package main

import (
	"fmt"
	"io"
	"maps"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// entryView is an object as `store stat`/`put` print it.
type entryView struct {
	Bucket      string               `json:"bucket"`
	Key         string               `json:"key"`
	Size        int64                `json:"size"`
	ContentType string               `json:"content_type,omitempty"`
	ETag        string               `json:"etag"`
	Metadata    map[string]string    `json:"metadata,omitempty"`
	Created     time.Time            `json:"created"`
	Parts       int                  `json:"parts"`
	Segments    int                  `json:"segments"`
	Pieces      int                  `json:"pieces"`
	Inline      bool                 `json:"inline"`
	Stores      []string             `json:"stores,omitempty"`
	Deals       []string             `json:"deals,omitempty"`       // storage deals on chain (network "chain"), one per stored part
	DealStatus  []objects.DealStatus `json:"deal_status,omitempty"` // stat: each deal's state, expiry height and escrow, as the chain has them
	Elapsed     string               `json:"elapsed,omitempty"`
}

func viewEntry(bucket string, e *index.Entry) entryView {
	v := entryView{Bucket: bucket, Key: e.Key, Size: e.Size, ContentType: e.ContentType, ETag: e.ETag, Metadata: e.Metadata,
		Created: e.Created, Parts: len(e.Parts)}
	seen := map[string]bool{}
	for _, p := range e.Parts {
		if p.Deal != "" {
			v.Deals = append(v.Deals, p.Deal)
		}
		for _, s := range p.Segments {
			v.Segments++
			v.Pieces += len(s.Pieces)
			v.Inline = v.Inline || s.Inline != nil
		}
		for _, s := range p.Stores {
			if !seen[s] {
				seen[s] = true
				v.Stores = append(v.Stores, s)
			}
		}
	}
	return v
}

func newStorePutCmd() *cobra.Command {
	var contentType string
	var meta []string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "put FILE|- BUCKET[/KEY]",
		Short: "Store a file (- = stdin); KEY defaults to the file's name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := splitPath(args[1])
			if bucket == "" {
				return fmt.Errorf("%q: want BUCKET[/KEY]", args[1])
			}
			var r io.Reader = cmd.InOrStdin()
			total := int64(-1)
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					total = fi.Size()
				}
				r = f
				if key == "" || strings.HasSuffix(key, "/") {
					key += filepath.Base(args[0])
				}
				if contentType == "" {
					contentType = mime.TypeByExtension(filepath.Ext(args[0]))
				}
			}
			if key == "" {
				return fmt.Errorf("%q: stdin needs a KEY (BUCKET/KEY)", args[1])
			}
			md := map[string]string{}
			for _, kv := range meta {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--meta %q: want KEY=VALUE", kv)
				}
				md[strings.ToLower(k)] = v
			}
			if len(md) == 0 {
				md = nil
			}
			c, _, _, err := openStore()
			if err != nil {
				return err
			}
			t0 := time.Now()
			pr := newProgress(cmd.ErrOrStderr(), "put", bucket+"/"+key, total, quiet)
			e, err := c.Put(cmd.Context(), bucket, key, r, objects.PutOptions{ContentType: contentType, Metadata: md, Progress: pr.update})
			pr.done(err)
			if err != nil {
				return friendly(err, "bucket "+bucket)
			}
			v := viewEntry(bucket, e)
			v.Elapsed = time.Since(t0).Round(time.Millisecond).String()
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s etag %s (%s)\n", bucket, key, mib(e.Size), e.ETag, v.Elapsed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&contentType, "content-type", "", "content type (default: from the file extension)")
	f.StringArrayVar(&meta, "meta", nil, "user metadata KEY=VALUE (repeatable)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

func newStoreGetCmd() *cobra.Command {
	var grant string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "get BUCKET/KEY [FILE|-] | get --grant TOKEN [FILE|-]",
		Short: "Fetch an object to FILE (default: the key's base name; - = stdout)",
		Args:  cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, k, _, err := openStore()
			if err != nil {
				return err
			}
			var bucket, key, dest string
			if grant != "" {
				g, err := objects.VerifyGrant(grant, k.PubKey(), time.Now(), wallet.Verify)
				if err != nil {
					return err
				}
				bucket, key = g.Bucket, g.Key
				if len(args) > 1 {
					return fmt.Errorf("with --grant, give at most a destination")
				}
				if len(args) == 1 {
					dest = args[0]
				}
			} else {
				if len(args) == 0 {
					return fmt.Errorf("want BUCKET/KEY or --grant TOKEN")
				}
				if bucket, key, err = needObject(args[0]); err != nil {
					return err
				}
				if len(args) == 2 {
					dest = args[1]
				}
			}
			if dest == "" {
				dest = filepath.Base(key)
			}
			e, err := c.Stat(cmd.Context(), bucket, key)
			if err != nil {
				return friendly(err, bucket+"/"+key)
			}
			var w io.Writer = cmd.OutOrStdout()
			var tmp *os.File
			if dest != "-" {
				// Write beside the destination and rename: a failed get
				// never leaves a partial file under the name.
				if tmp, err = os.CreateTemp(filepath.Dir(dest), ".vimana-get-*"); err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				w = tmp
			}
			t0 := time.Now()
			pr := newProgress(cmd.ErrOrStderr(), "get", bucket+"/"+key, e.Size, quiet)
			err = c.ReadRange(cmd.Context(), bucket, e, w, 0, -1, pr.update)
			pr.done(err)
			if err != nil {
				if tmp != nil {
					tmp.Close()
				}
				return err
			}
			if tmp != nil {
				if err := tmp.Close(); err != nil {
					return err
				}
				if err := os.Rename(tmp.Name(), dest); err != nil {
					return err
				}
			}
			elapsed := time.Since(t0).Round(time.Millisecond).String()
			if dest == "-" {
				return nil // stdout is the data
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"bucket": bucket, "key": key, "file": dest, "size": e.Size, "etag": e.ETag, "elapsed": elapsed})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s)\n", dest, mib(e.Size), elapsed)
			return nil
		},
	}
	cmd.Flags().StringVar(&grant, "grant", "", "read the object a `vimana store share` token names (checked against this key)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

func newStoreStatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stat BUCKET/KEY",
		Short: "An object's size, ETag, metadata and where its pieces are",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key, err := needObject(args[0])
			if err != nil {
				return err
			}
			c, _, _, err := openStore()
			if err != nil {
				return err
			}
			e, err := c.Stat(cmd.Context(), bucket, key)
			if err != nil {
				return friendly(err, args[0])
			}
			v := viewEntry(bucket, e)
			if dr, ok := c.Net.(objects.DealRenewer); ok {
				for _, d := range v.Deals {
					st, err := dr.DealStatus(cmd.Context(), d)
					if err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
						continue
					}
					v.DealStatus = append(v.DealStatus, st)
				}
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), v)
			}
			rows := [][]string{{"key", bucket + "/" + key}, {"size", fmt.Sprintf("%d (%s)", v.Size, mib(v.Size))}, {"etag", v.ETag},
				{"content-type", v.ContentType}, {"created", v.Created.Format(time.RFC3339)},
				{"parts/segments/pieces", fmt.Sprintf("%d/%d/%d", v.Parts, v.Segments, v.Pieces)}, {"inline", fmt.Sprint(v.Inline)},
				{"stores", strings.Join(v.Stores, ",")}, {"deals", strings.Join(v.Deals, ",")}}
			for _, d := range v.DealStatus {
				rows = append(rows, []string{"deal " + d.Deal, fmt.Sprintf("%s, expiry height %d, escrow %s", d.State, d.Expiry, vis(d.Escrow))})
			}
			for _, k := range slices.Sorted(maps.Keys(v.Metadata)) {
				rows = append(rows, []string{"meta " + k, v.Metadata[k]})
			}
			return printTable(cmd.OutOrStdout(), []string{"FIELD", "VALUE"}, rows)
		},
	}
}

func newStoreLsCmd() *cobra.Command {
	var delimiter, marker string
	var maxKeys int
	cmd := &cobra.Command{
		Use:   "ls [BUCKET[/PREFIX]]",
		Short: "List buckets, or a bucket's objects in key order (--delimiter / rolls up \"directories\")",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := openStore()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				bs, err := c.Index.Buckets(cmd.Context())
				if err != nil {
					return err
				}
				if len(bs) == 0 {
					// Blobs sealed under other keys are invisible: say so,
					// since a mistyped passphrase looks like an empty store.
					if names, err := filepath.Glob(filepath.Join(g.home, "store", "index", "*.bucket")); err == nil && len(names) > 0 {
						fmt.Fprintf(cmd.ErrOrStderr(), "note: %d bucket(s) in this home are sealed with another key (another wallet key, or secret = \"passphrase\" with another passphrase)\n", len(names))
					}
				}
				if jsonOutput() {
					if bs == nil {
						bs = []index.Bucket{}
					}
					return printJSON(cmd.OutOrStdout(), bs)
				}
				var rows [][]string
				for _, b := range bs {
					rows = append(rows, []string{b.Name, fmt.Sprint(b.Objects), mib(b.Bytes), fmt.Sprintf("%d+%d", b.Config.Params.K, b.Config.Params.M), b.Created.Format(time.RFC3339)})
				}
				return printTable(cmd.OutOrStdout(), []string{"BUCKET", "OBJECTS", "SIZE", "CODING", "CREATED"}, rows)
			}
			bucket, prefix := splitPath(args[0])
			r, err := c.Index.List(cmd.Context(), bucket, index.ListOptions{Prefix: prefix, Delimiter: delimiter, Marker: marker, MaxKeys: maxKeys})
			if err != nil {
				return friendly(err, "bucket "+bucket)
			}
			if jsonOutput() {
				type obj struct {
					Key     string    `json:"key"`
					Size    int64     `json:"size"`
					ETag    string    `json:"etag"`
					Created time.Time `json:"created"`
				}
				out := struct {
					Objects        []obj    `json:"objects"`
					CommonPrefixes []string `json:"common_prefixes"`
					Truncated      bool     `json:"truncated"`
					NextMarker     string   `json:"next_marker,omitempty"`
				}{Objects: []obj{}, CommonPrefixes: r.CommonPrefixes, Truncated: r.Truncated, NextMarker: r.NextMarker}
				if out.CommonPrefixes == nil {
					out.CommonPrefixes = []string{}
				}
				for _, e := range r.Objects {
					out.Objects = append(out.Objects, obj{e.Key, e.Size, e.ETag, e.Created})
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			var rows [][]string
			for _, p := range r.CommonPrefixes {
				rows = append(rows, []string{p, "DIR", "", ""})
			}
			for _, e := range r.Objects {
				rows = append(rows, []string{e.Key, fmt.Sprint(e.Size), e.ETag, e.Created.Format(time.RFC3339)})
			}
			if err := printTable(cmd.OutOrStdout(), []string{"KEY", "SIZE", "ETAG", "CREATED"}, rows); err != nil {
				return err
			}
			if r.Truncated {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: --marker %q\n", r.NextMarker)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&delimiter, "delimiter", "", "roll keys up to the first DELIMITER after the prefix into one entry")
	f.StringVar(&marker, "marker", "", "start after this key")
	f.IntVar(&maxKeys, "max-keys", 1000, "entries per page")
	return cmd
}

func newStoreShareCmd() *cobra.Command {
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "share BUCKET/KEY",
		Short: "A signed, time-limited read grant for one object",
		Long: `Prints a token signed by your wallet key that names BUCKET/KEY and an expiry.
It is honoured by 'vimana store get --grant TOKEN' on a machine with your key,
and by your S3 gateway at GET /_vimana/grant/TOKEN (no S3 credentials needed).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key, err := needObject(args[0])
			if err != nil {
				return err
			}
			if expires <= 0 {
				return fmt.Errorf("--expires %s: want > 0", expires)
			}
			c, k, _, err := openStore()
			if err != nil {
				return err
			}
			if _, err := c.Stat(cmd.Context(), bucket, key); err != nil {
				return friendly(err, args[0])
			}
			exp := time.Now().Add(expires).UTC().Truncate(time.Second)
			tok, err := objects.SignGrant(k, bucket, key, exp)
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"token": tok, "bucket": bucket, "key": key, "expires": exp, "path": "/_vimana/grant/" + tok})
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintf(cmd.ErrOrStderr(), "expires %s; S3 gateway path: /_vimana/grant/<token>\n", exp.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().DurationVar(&expires, "expires", time.Hour, "how long the grant is valid")
	return cmd
}
