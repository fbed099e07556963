package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image"
)

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, pull and manage OCI images in the local cache",
		Long: `Images live in <home>/images, unpacked once per manifest digest and shared
read-only by every spacecore that runs them. References: a registry ref
(host/repo:tag or host/repo@sha256:...; loopback registries and those given
with --insecure-registry use plain http), oci-layout:DIR[:TAG] (TAG defaults
to latest), or docker-archive:FILE. See docs/images.md.`,
	}
	cmd.AddCommand(newImageBuildCmd(), newImagePullCmd(), newImagePushCmd(), newImageLsCmd(), newImageInspectCmd(), newImageRmCmd())
	return cmd
}

func imageStore() (*image.Store, error) { return image.Open(filepath.Join(g.home, "images")) }

// progressPrinter writes one line per finished layer phase (stderr-friendly:
// no cursor tricks, so logs and CI output stay readable).
func progressPrinter(w io.Writer) func(image.Progress) {
	return func(p image.Progress) {
		if !p.Done {
			return
		}
		verb := "unpacked"
		if p.Phase == image.PhaseDownload {
			verb = "downloaded"
		}
		fmt.Fprintf(w, "  layer %d/%d %s %s %s\n", p.Layer, p.Layers, shortDigest(p.Digest), verb, mib(p.Bytes))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func newImagePullCmd() *cobra.Command {
	var insecure []string
	var maxSize int64
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Resolve an image and unpack it into the cache (a cached digest is not fetched again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := imageStore()
			if err != nil {
				return err
			}
			t0 := time.Now()
			img, err := s.Pull(cmd.Context(), args[0], image.PullOptions{
				MaxSize: maxSize, InsecureRegistries: insecure, Progress: progressPrinter(cmd.ErrOrStderr()),
			})
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), img)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s, %s)\n", img.Digest, args[0], mib(img.Size), time.Since(t0).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&insecure, "insecure-registry", nil, "registry host:port to reach over plain http (repeatable)")
	cmd.Flags().Int64Var(&maxSize, "max-size", 0, "refuse images that unpack to more than this many bytes (0: no limit)")
	return cmd
}

func newImageLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List cached images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := imageStore()
			if err != nil {
				return err
			}
			list, err := s.List()
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), list)
			}
			var rows [][]string
			for _, i := range list {
				rows = append(rows, []string{shortDigest(i.Digest), i.Ref, mib(i.Size), i.PulledAt.Local().Format(time.DateTime)})
			}
			return printTable(cmd.OutOrStdout(), []string{"DIGEST", "REF", "SIZE", "PULLED"}, rows)
		},
	}
}

// findImage accepts a reference that was pulled, a digest, or a unique
// digest prefix (with or without "sha256:").
func findImage(s *image.Store, key string) (*image.Image, error) {
	if img, err := s.Lookup(key); err == nil {
		return img, nil
	}
	if img, err := s.Get(key); err == nil {
		return img, nil
	}
	list, err := s.List()
	if err != nil {
		return nil, err
	}
	var found []image.Image
	prefix := strings.TrimPrefix(key, "sha256:")
	for _, i := range list {
		if i.Ref == key || (len(prefix) >= 4 && strings.HasPrefix(strings.TrimPrefix(i.Digest, "sha256:"), prefix)) {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 1:
		return &found[0], nil
	case 0:
		return nil, fmt.Errorf("image %s: %w in %s", key, hypercore.ErrNotFound, s.Dir())
	}
	return nil, fmt.Errorf("image %s: %w: matches %d images; give more of the digest", key, hypercore.ErrInvalid, len(found))
}

// imageDetail is what inspect prints.
type imageDetail struct {
	*image.Image
	Refs []string `json:"refs"`
}

func newImageInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect REF|DIGEST",
		Short: "Show a cached image's config, references and rootfs (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := imageStore()
			if err != nil {
				return err
			}
			img, err := findImage(s, args[0])
			if err != nil {
				return err
			}
			refs, err := s.RefsTo(img.Digest)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), imageDetail{Image: img, Refs: refs})
		},
	}
}

func newImageRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm DIGEST|REF...",
		Short: "Remove cached images (running spacecores keep their mounts)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := imageStore()
			if err != nil {
				return err
			}
			var errs []error
			var removed []string
			for _, a := range args {
				img, err := findImage(s, a)
				if err == nil {
					err = s.Remove(img.Digest)
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				removed = append(removed, img.Digest)
				if !jsonOutput() {
					fmt.Fprintln(cmd.OutOrStdout(), "removed", img.Digest)
				}
			}
			if jsonOutput() {
				if removed == nil {
					removed = []string{}
				}
				if err := printJSON(cmd.OutOrStdout(), map[string][]string{"removed": removed}); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
}
