package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/hac"
)

func newHacCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hac",
		Short: "Work with hac.toml files (validate, format, schema)",
		Long: `hac.toml ("hardware as code") describes a spacecore: its image, hardware,
network, volumes, deploy terms and secret names. Files written for the
original hypercore and vimana tools are accepted with a warning per legacy
key. Every key, default and unit is in docs/hac.md and "vimana hac schema".`,
		Example: `  vimana hac validate examples/hello/hac.toml
  vimana hac fmt -w examples/hello/hac.toml
  vimana hac schema -o json`,
	}
	cmd.AddCommand(newHacValidateCmd(), newHacFmtCmd(), newHacSchemaCmd())
	return cmd
}

type validation struct {
	File     string   `json:"file"`
	OK       bool     `json:"ok"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

func newHacValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check hac.toml files; exit 1 if any has an error",
		Long: `validate parses each FILE and prints "FILE: ok" on stdout, or every error
(file:line:col: key: message) on stderr; legacy dialect keys print warnings.
Image paths and registries are not contacted. The exit status is 1 when
any file has an error.`,
		Example: `  vimana hac validate examples/hello/hac.toml
  vimana hac validate -o json app/*.toml    # [{"file":…,"ok":…,"errors":[…],"warnings":[…]}]`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var results []validation
			failed := false
			for _, f := range args {
				_, warns, err := hac.ParseFile(f)
				v := validation{File: f, OK: err == nil}
				for _, w := range warns {
					v.Warnings = append(v.Warnings, w.String())
				}
				if err != nil {
					failed = true
					var es hac.Errors
					if errors.As(err, &es) {
						for _, e := range es {
							v.Errors = append(v.Errors, e.Error())
						}
					} else {
						v.Errors = append(v.Errors, err.Error())
					}
				}
				results = append(results, v)
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if jsonOutput() {
				if err := printJSON(out, results); err != nil {
					return err
				}
			} else {
				for _, v := range results {
					for _, w := range v.Warnings {
						fmt.Fprintln(errOut, "warning:", w)
					}
					for _, e := range v.Errors {
						fmt.Fprintln(errOut, "error:", e)
					}
					if v.OK {
						fmt.Fprintf(out, "%s: ok\n", v.File)
					} else {
						fmt.Fprintf(out, "%s: %d error(s)\n", v.File, len(v.Errors))
					}
				}
			}
			if failed {
				return exitCode(1)
			}
			return nil
		},
	}
}

func newHacFmtCmd() *cobra.Command {
	var write bool
	cmd := &cobra.Command{
		Use:   "fmt FILE",
		Short: "Print FILE in the canonical dialect and key order (-w rewrites it)",
		Long: `fmt prints a hac.toml in the canonical dialect (legacy hypercore and vimana
keys become their canonical keys) and schema order; values keep their
spelling. Comments are not kept. A file with errors is not formatted.
With -w the file is replaced atomically (write a temporary file, rename).`,
		Example: `  vimana hac fmt hac.toml           # print the canonical form
  vimana hac fmt -w old/hac.toml    # convert a legacy file in place`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			out, err := hac.Format(args[0], data)
			if err != nil {
				return err
			}
			if !write {
				_, err := cmd.OutOrStdout().Write(out)
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(args[0]), ".hac-fmt-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := tmp.Write(out); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if fi, err := os.Stat(args[0]); err == nil {
				os.Chmod(tmp.Name(), fi.Mode().Perm())
			}
			return os.Rename(tmp.Name(), args[0])
		},
	}
	cmd.Flags().BoolVarP(&write, "write", "w", false, "rewrite the file in place")
	return cmd
}

func newHacSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print every hac.toml key with its type, default and meaning",
		Example: `  vimana hac schema
  vimana hac schema -o json | jq '.[].key'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if jsonOutput() {
				b, err := hac.SchemaJSON()
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), hac.SchemaText())
			return err
		},
	}
}
