package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/image/registry"
)

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "A local OCI registry (plain http on loopback; the devnet runs one)",
	}
	cmd.AddCommand(newRegistryServeCmd())
	return cmd
}

func newRegistryServeCmd() *cobra.Command {
	var listen, dir string
	cmd := &cobra.Command{
		Use:   "serve --dir DIR [--listen 127.0.0.1:5000]",
		Short: "Serve an OCI registry whose blobs and manifests persist in DIR",
		Long: `Serves the OCI distribution API over plain http, without authentication:
it listens on loopback addresses only (vimana pulls from loopback registries
over http without --insecure-registry). Blobs live in DIR/blobs and every
manifest push or delete is journaled in DIR/manifests.jsonl, so tags and
digests survive a restart. Runs until SIGINT/SIGTERM. "vimana devnet up"
starts one per devnet.`,
		Example: "  vimana registry serve --dir /var/lib/vimana-registry --listen 127.0.0.1:5000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q: want host:port", listen)
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return fmt.Errorf("--listen %q: the registry has no authentication and no TLS; listen on a loopback address", listen)
			}
			reg, err := registry.Open(dir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer reg.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: reg, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(cmd.OutOrStdout(), "registry listening on %s, storing in %s\n", ln.Addr(), dir)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					return err
				}
				return nil
			}
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:5000", "loopback host:port")
	cmd.Flags().StringVar(&dir, "dir", "", "directory for blobs and the manifest journal")
	return cmd
}
