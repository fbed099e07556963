package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/spf13/cobra"

	"github.com/vistara-labs/vimana/internal/image"
)

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run a local OCI registry (the devnet's image registry)",
	}
	cmd.AddCommand(newRegistryServeCmd())
	return cmd
}

func newRegistryServeCmd() *cobra.Command {
	var listen, dir string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve an OCI distribution registry over plain http (go-containerregistry's)",
		Long: `serve runs go-containerregistry's registry: blobs are stored under --dir (they
survive a restart), manifests and tags are kept in memory (they do not).
It speaks plain http, so serve it on loopback or a trusted network only;
` + "`vimana devnet up`" + ` starts one per devnet. Stops on SIGINT/SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			logger := log.New(cmd.ErrOrStderr(), "registry: ", log.LstdFlags)
			opts := []registry.Option{registry.WithBlobHandler(registry.NewDiskBlobHandler(dir))}
			if !verbose {
				opts = append(opts, registry.Logger(log.New(discard{}, "", 0)))
			} else {
				opts = append(opts, registry.Logger(logger))
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: registry.New(opts...), ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			}()
			logger.Printf("serving on http://%s (blobs in %s)", l.Addr(), dir)
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:5000", "address to listen on")
	cmd.Flags().StringVar(&dir, "dir", "registry", "directory for blobs")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "log every request")
	return cmd
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func newImagePushCmd() *cobra.Command {
	var insecure []string
	cmd := &cobra.Command{
		Use:   "push SRC DEST",
		Short: "Push a local image (oci-layout:DIR[:TAG], docker-archive:FILE) to a registry",
		Long: `push uploads SRC to DEST (host[:port]/repo[:tag]) and prints the digest
reference (DEST's repository @sha256:…) that orders and hac.toml files should
use. Loopback registries and those given with --insecure-registry use plain http.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := image.LoadLocal(args[0])
			if err != nil {
				return err
			}
			ref, err := name.ParseReference(args[1], name.WeakValidation)
			if err != nil {
				return fmt.Errorf("DEST %q: %w", args[1], err)
			}
			d, err := img.Digest()
			if err != nil {
				return err
			}
			if !jsonOutput() {
				fmt.Fprintf(cmd.ErrOrStderr(), "pushing %s to %s…\n", args[0], args[1])
			}
			if err := image.Push(cmd.Context(), img, args[1], insecure); err != nil {
				return err
			}
			pinned := ref.Context().String() + "@" + d.String()
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"ref": args[1], "digest": d.String(), "pinned": pinned})
			}
			fmt.Fprintln(cmd.OutOrStdout(), pinned)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&insecure, "insecure-registry", nil, "registry host:port to reach over plain http")
	return cmd
}
