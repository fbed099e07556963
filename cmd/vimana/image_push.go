package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/image"
)

func newImagePushCmd() *cobra.Command {
	var insecure []string
	cmd := &cobra.Command{
		Use:   "push SRC REF",
		Short: "Upload an image (cached, OCI layout or docker archive) to a registry",
		Long: `Pushes SRC to the registry reference REF (host[:port]/repo[:tag]; no tag
means latest) and prints the digest reference it can be pulled by.

SRC is a cached image (a digest, a unique digest prefix, or a reference it
was pulled by), oci-layout:DIR[:TAG] or docker-archive:FILE. A cached image
pulled from a registry is pushed from <home>/images alone; one that came from
a layout or archive is read from there again (the cache keeps only its
unpacked rootfs), and must still have the same digest.`,
		Example: `  vimana image push oci-layout:examples/hello/image 127.0.0.1:5000/hello:v1
  vimana image push sha256:1f2e 127.0.0.1:5000/hello -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := imageStore()
			if err != nil {
				return err
			}
			src := args[0]
			if img, err := findImage(s, src); err == nil {
				src = img.Digest
			}
			img, err := s.Source(cmd.Context(), src, insecure)
			if err != nil {
				return err
			}
			t0 := time.Now()
			stderr := cmd.ErrOrStderr()
			ref, err := image.PushRef(cmd.Context(), img, args[1], image.PushOptions{
				InsecureRegistries: insecure,
				Progress: func(done, total int64) {
					fmt.Fprintf(stderr, "  pushed %s of %s\n", mib(done), mib(total))
				},
			})
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"ref": ref})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s)\n", ref, time.Since(t0).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&insecure, "insecure-registry", nil, "registry host:port to reach over plain http (repeatable)")
	return cmd
}
