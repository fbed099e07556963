package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/image"
)

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, pull and manage OCI images in the local cache",
		Long: `Images live in <home>/images, unpacked once per manifest digest and shared by
every spacecore that runs them. References: a registry ref (host/repo:tag or
host/repo@sha256:...; 127.0.0.1 and localhost registries use plain http),
oci-layout:DIR[:TAG], or docker-archive:FILE. See docs/images.md.`,
	}
	cmd.AddCommand(newImageBuildCmd(), newImagePullCmd(), newImageLsCmd(), newImageInspectCmd(), newImageRmCmd())
	return cmd
}

func imageStore() (*image.Store, error) { return image.Open(filepath.Join(g.home, "images")) }

func progressPrinter(w io.Writer) func(image.Progress) {
	return func(p image.Progress) {
		fmt.Fprintf(w, "  unpacked layer %d/%d (%.1f MiB)\n", p.Layer, p.Layers, float64(p.Bytes)/(1<<20))
	}
}

func newImageBuildCmd() *cobra.Command {
	var o image.BuildOptions
	var output, push string
	var insecure []string
	cmd := &cobra.Command{
		Use:   "build --binary FILE (--output oci-layout:DIR[:TAG] | --push REF)",
		Short: "Pack a static binary into a one-layer OCI image",
		Example: `  CGO_ENABLED=0 go build -o bin/hello ./examples/hello
  vimana image build --binary bin/hello --entrypoint /hello --port 8080 \
      --output oci-layout:examples/hello/image:latest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Binary == "" || (output == "") == (push == "") {
				return fmt.Errorf("need --binary and exactly one of --output or --push")
			}
			if len(o.Entrypoint) == 1 {
				o.Path = o.Entrypoint[0]
			}
			img, err := image.Build(o)
			if err != nil {
				return err
			}
			d, err := img.Digest()
			if err != nil {
				return err
			}
			switch {
			case output != "":
				spec, ok := strings.CutPrefix(output, image.PrefixLayout)
				if !ok {
					return fmt.Errorf("--output %q: want oci-layout:DIR[:TAG]", output)
				}
				dir, tag := spec, "latest"
				if i := strings.LastIndexByte(spec, ':'); i >= 0 && !strings.Contains(spec[i+1:], "/") {
					dir, tag = spec[:i], spec[i+1:]
				}
				if err := image.WriteLayout(img, dir, tag); err != nil {
					return err
				}
			default:
				if err := image.Push(cmd.Context(), img, push, insecure); err != nil {
					return err
				}
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"digest": d.String(), "output": output + push})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", d, output+push)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Binary, "binary", "", "static binary to pack")
	f.StringSliceVar(&o.Entrypoint, "entrypoint", nil, "entrypoint (default /<binary name>)")
	f.StringSliceVar(&o.Cmd, "cmd", nil, "default arguments")
	f.StringSliceVar(&o.Env, "env", nil, "KEY=VALUE environment")
	f.StringSliceVar(&o.Ports, "port", nil, "exposed port, e.g. 8080 or 53/udp")
	f.StringVar(&output, "output", "", "write to oci-layout:DIR[:TAG]")
	f.StringVar(&push, "push", "", "push to a registry reference")
	f.StringSliceVar(&insecure, "insecure-registry", nil, "registry host:port to reach over plain http")
	return cmd
}

func newImagePullCmd() *cobra.Command {
	var insecure []string
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Resolve and unpack an image into the cache",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := imageStore()
			if err != nil {
				return err
			}
			t0 := time.Now()
			img, err := s.Pull(cmd.Context(), args[0], image.PullOptions{InsecureRegistries: insecure, Progress: progressPrinter(cmd.ErrOrStderr())})
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), img)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%.1f MiB, %s)\n", img.Digest, args[0], float64(img.Size)/(1<<20), time.Since(t0).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&insecure, "insecure-registry", nil, "registry host:port to reach over plain http")
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
				if list == nil {
					list = []image.Image{}
				}
				return printJSON(cmd.OutOrStdout(), list)
			}
			var rows [][]string
			for _, i := range list {
				rows = append(rows, []string{shortDigest(i.Digest), i.Ref, fmt.Sprintf("%.1fMiB", float64(i.Size)/(1<<20)), i.PulledAt.Format(time.RFC3339)})
			}
			return printTable(cmd.OutOrStdout(), []string{"DIGEST", "REF", "SIZE", "PULLED"}, rows)
		},
	}
}

// findImage accepts a full digest, a digest prefix or a ref.
func findImage(s *image.Store, key string) (*image.Image, error) {
	list, err := s.List()
	if err != nil {
		return nil, err
	}
	for _, i := range list {
		if i.Digest == key || i.Ref == key || strings.HasPrefix(i.Digest, key) || strings.HasPrefix(strings.TrimPrefix(i.Digest, "sha256:"), key) {
			return &i, nil
		}
	}
	return s.Get(key)
}

func newImageInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect REF|DIGEST",
		Short: "Show a cached image's config and location (always JSON)",
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
			return printJSON(cmd.OutOrStdout(), img)
		},
	}
}

func newImageRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm DIGEST...",
		Short: "Remove cached images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := imageStore()
			if err != nil {
				return err
			}
			for _, a := range args {
				img, err := findImage(s, a)
				if err != nil {
					return err
				}
				if err := s.Remove(img.Digest); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "removed", img.Digest)
			}
			return nil
		},
	}
}
