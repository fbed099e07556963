package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/s3"
	"github.com/vistara-labs/vimana/internal/storage/index"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

func newS3Cmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "s3",
		Short: "S3-compatible gateway over your encrypted store",
	}
	cmd.PersistentFlags().StringVar(&storeKeyName, "key", "", `wallet key that owns the objects (default: store config key, "tenant")`)
	cmd.PersistentFlags().StringVar(&passphraseFile, "passphrase-file", "", "file holding the keystore passphrase")
	cmd.AddCommand(newS3ServeCmd(), newS3CredentialsCmd())
	return cmd
}

func newS3CredentialsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "credentials",
		Short: "Print the SigV4 access key and secret of your gateway (derived from the wallet key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, k, _, err := openStore()
			if err != nil {
				return err
			}
			cr := s3.DeriveCredentials(k.Seed())
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), cr)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", cr.AccessKey, cr.SecretKey)
			return nil
		},
	}
}

func newS3ServeCmd() *cobra.Command {
	var listen, region string
	cmd := &cobra.Command{
		Use:   "serve [--listen 127.0.0.1:9000]",
		Short: "Serve the S3 API (SigV4, path-style) until SIGINT/SIGTERM",
		Long: `Runs versitygw with a backend over your store: buckets, put/get/head/delete
(with ranges), ListObjects v1/v2, multipart uploads and copy; other S3 calls
answer NotImplemented. Buckets it creates use the store config's k, m and
segment size. Credentials are derived from your wallet key and printed at
start (and by 'vimana s3 credentials'). Port 0 picks a free port.
With auto_renew_within = N in the store config, the gateway renews every
auto_renew_every (default 10m) the deals that end within N blocks, as
'vimana store renew --all --within N' does, and logs what it renewed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			c, k, cfg, err := openStore()
			if err != nil {
				return err
			}
			// Every S3 PUT changes the index: replicate it at most once
			// per index_delay, and what is pending when the gateway stops.
			if st, ok := replicatedIndex(c); ok {
				st.Debounce()
				defer func() {
					if ferr := flushStore(c); ferr != nil && err == nil {
						err = ferr
					}
				}()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if stopRenew := startAutoRenew(ctx, c, cfg); stopRenew != nil {
				defer stopRenew()
			}
			cr := s3.DeriveCredentials(k.Seed())
			out := cmd.OutOrStdout()
			return s3.Serve(ctx, s3.Config{
				Listen: listen, Creds: cr, Region: region, Owner: k.PubKey(),
				Backend: &s3.Backend{C: c, Bucket: index.BucketConfig{Params: cfg.Params()}},
				Ready: func(addr string) {
					if jsonOutput() {
						printJSON(out, map[string]string{"endpoint": "http://" + addr, "region": region, "access_key": cr.AccessKey, "secret_key": cr.SecretKey})
						return
					}
					fmt.Fprintf(out, "endpoint   http://%s (path-style, region %s)\naccess key %s\nsecret key %s\n", addr, region, cr.AccessKey, cr.SecretKey)
				},
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9000", "address to serve on (port 0: a free port)")
	cmd.Flags().StringVar(&region, "region", "us-east-1", "region reported to clients (SigV4 scope)")
	return cmd
}

// startAutoRenew starts the background renewer when the store config asks
// for one (auto_renew_within > 0) and returns its stop. A renewer that
// cannot start (a network without deals) is logged, not fatal: the
// gateway serves regardless.
func startAutoRenew(ctx context.Context, c *objects.Client, cfg objects.Config) func() {
	if cfg.AutoRenewWithin <= 0 {
		return nil
	}
	every, err := cfg.RenewEvery() // validated by LoadConfig
	if err != nil {
		slog.Error("auto-renew off", "err", err)
		return nil
	}
	r := &objects.Renewer{C: c, Within: cfg.AutoRenewWithin, Every: every}
	if err := r.Start(ctx); err != nil {
		slog.Error("auto-renew off", "network", cfg.Network, "err", err)
		return nil
	}
	slog.Info("auto-renew on", "within_blocks", cfg.AutoRenewWithin, "every", every)
	return r.Stop
}
