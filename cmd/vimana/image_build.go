package main

import (
	"fmt"
	"path"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/image"
)

func newImageBuildCmd() *cobra.Command {
	var o image.BuildOptions
	var output, push string
	var insecure []string
	cmd := &cobra.Command{
		Use:   "build --binary FILE (--output oci-layout:DIR[:TAG] | --push REF)",
		Short: "Pack a static binary into a one-layer OCI image",
		Long: `Packs one static binary (plus a minimal /etc/passwd, /etc/group and empty
/tmp, /proc, /sys, /dev) into a single-layer OCI image for this platform and
writes it into an OCI layout under a tag, or pushes it to a registry. The
same inputs always give the same digest.

Here --output names the destination; -o/--format still picks table|json.`,
		Example: `  CGO_ENABLED=0 go build -o bin/hello ./examples/hello
  vimana image build --binary bin/hello --entrypoint /hello --port 8080 \
      --output oci-layout:examples/hello/image:latest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Binary == "" || (output == "") == (push == "") {
				return fmt.Errorf("need --binary and exactly one of --output or --push")
			}
			if o.Path == "" && len(o.Entrypoint) > 0 && path.IsAbs(o.Entrypoint[0]) {
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
			dest := push
			if output != "" {
				dir, tag, ok := image.ParseLayoutRef(output)
				if !ok {
					return fmt.Errorf("--output %q: want oci-layout:DIR[:TAG]", output)
				}
				if err := image.WriteLayout(img, dir, tag); err != nil {
					return err
				}
				abs, _ := filepath.Abs(dir)
				dest = image.PrefixLayout + abs + ":" + tag
			} else if err := image.Push(cmd.Context(), img, push, insecure); err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"digest": d.String(), "ref": dest})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", d, dest)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Binary, "binary", "", "static binary to pack")
	f.StringVar(&o.Path, "path", "", "where the binary goes in the image (default: the entrypoint if absolute, else /<binary name>)")
	f.StringArrayVar(&o.Entrypoint, "entrypoint", nil, "entrypoint argument (repeatable; default the binary's path)")
	f.StringArrayVar(&o.Cmd, "cmd", nil, "default argument (repeatable)")
	f.StringArrayVar(&o.Env, "env", nil, "KEY=VALUE environment (repeatable)")
	f.StringArrayVar(&o.Ports, "port", nil, "exposed port, e.g. 8080 or 53/udp (repeatable)")
	f.StringVar(&output, "output", "", "write to oci-layout:DIR[:TAG]")
	f.StringVar(&push, "push", "", "push to a registry reference")
	f.StringArrayVar(&insecure, "insecure-registry", nil, "registry host:port to reach over plain http (repeatable)")
	// --output is the destination here, which hides the global -o/--output
	// flag; keep -o working for the format under another long name.
	f.StringVarP(&g.output, "format", "o", "table", "output format: table|json")
	return cmd
}
