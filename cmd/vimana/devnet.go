package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/node"
	"github.com/vistara-labs/vimana/internal/storage/chainnet"
	"github.com/vistara-labs/vimana/internal/storage/objects"
)

func newDevnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local network of vimana nodes (validators + providers) on 127.0.0.1",
		Long: `devnet creates N node homes under --home, one genesis with N validators and a
funded tenant and provider wallets (keys in <home>/keys, empty passphrase), and
starts N separate "vimana node start" processes on free 127.0.0.1 ports. The
processes keep running after "devnet up" returns; "devnet down" stops them and
"devnet up" again restarts the same network. <home>/vimana.sock points at node 0,
so "vimana --home DIR spacecore ..." talks to the devnet. The first "up" also
writes <home>/store/config.toml with network = "chain" and node 0's RPC, so
"vimana --home DIR store ..." and "vimana --home DIR s3 serve" keep objects
on the devnet's storage providers as the funded tenant.`,
	}
	cmd.AddCommand(newDevnetUpCmd(), newDevnetStatusCmd(), newDevnetDownCmd())
	return cmd
}

func printDevnet(cmd *cobra.Command, d *node.Devnet) error {
	if jsonOutput() {
		return printJSON(cmd.OutOrStdout(), d)
	}
	var rows [][]string
	for _, n := range d.Nodes {
		rows = append(rows, []string{fmt.Sprint(n.Index), fmt.Sprint(n.Pid), fmt.Sprint(n.Alive), fmt.Sprint(n.Height), n.RPC, n.API, n.Gateway})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "chain %s, tenant %s\n", d.ChainID, d.Tenant)
	if r := d.Registry; r != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "registry %s (pid %d, alive %v); node 0 is the edge gateway, nodes 1+ are providers\n", r.Addr, r.Pid, r.Alive)
	}
	if d.Hello != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "hello image %s\n", d.Hello)
	}
	return printTable(cmd.OutOrStdout(), []string{"NODE", "PID", "ALIVE", "HEIGHT", "RPC", "API", "GATEWAY"}, rows)
}

// devnetStoreConfig points the devnet home's object store (`vimana --home
// DIR store|s3 …`, acting as the funded tenant) at the devnet's storage
// providers: network "chain" over node 0's RPC (node 0 is the edge and is
// not a storage provider, so killing providers leaves the RPC up). A
// config that is already there is the user's and is left alone.
func devnetStoreConfig(d *node.Devnet) error {
	path := storeConfigPath()
	if _, err := os.Stat(path); err == nil || len(d.Nodes) == 0 {
		return nil
	}
	c := objects.DefaultConfig()
	// Nodes 1..N-1 keep pieces; a devnet smaller than the default k+m
	// (4+2 from 7 nodes up) gets the widest code its providers can hold,
	// so `make devnet` (3 providers: 2+1) can store too.
	if n := len(d.Nodes) - 1; n < c.K+c.M {
		c.K, c.M = devnetCode(n)
	}
	c.Network = chainnet.Name
	c.NetworkOptions = map[string]string{chainnet.OptRPC: d.Nodes[0].RPC}
	return objects.WriteConfig(path, c)
}

// devnetCode is the k+m a devnet with n storage providers stores with.
func devnetCode(n int) (k, m int) {
	switch {
	case n <= 1:
		return 1, 0
	case n <= 3:
		return n - 1, 1
	default:
		return n - 2, 2
	}
}

func newDevnetUpCmd() *cobra.Command {
	o := node.DevnetOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create or restart the devnet and its registry; returns once every node produces blocks",
		Long: `up creates (first time) or restarts the devnet under --home: a local OCI
registry ("vimana registry serve" on a free 127.0.0.1 port, contents under
<home>/registry, kept across restarts) and the node processes.

The hello example's image is built from --hello-binary (a static build of
examples/hello; default bin/hello, which "make hello-image" writes; when it
is missing and ./examples/hello and the go tool are there, it is built into
<home>/hello) and pushed to the registry as hello:latest; its digest
reference (127.0.0.1:PORT/hello@sha256:...) is printed and kept in
<home>/devnet.json as "hello".`,
		Example: "  vimana devnet up --nodes 4 --home ./.devnet",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			o.Bin = bin
			if o.HelloBinary, err = helloBinary(cmd, o.HelloBinary); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "starting a %d-node devnet in %s ...\n", o.Nodes, g.home)
			d, err := node.DevnetUp(cmd.Context(), g.home, o)
			if err != nil {
				return err
			}
			if err := devnetStoreConfig(d); err != nil {
				return err
			}
			return printDevnet(cmd, d)
		},
	}
	cmd.Flags().IntVar(&o.Nodes, "nodes", 4, "number of nodes (1-16)")
	cmd.Flags().StringVar(&o.HelloBinary, "hello-binary", "", "static hello binary to build the registry's hello image from (default bin/hello; \"none\" skips it)")
	return cmd
}

// helloBinary picks the hello binary devnet up packs: the flag, else
// bin/hello, else a fresh build of ./examples/hello when this is a source
// checkout with the go tool; "" (with a note) when there is none.
func helloBinary(cmd *cobra.Command, flag string) (string, error) {
	switch flag {
	case "none":
		return "", nil
	case "":
	default:
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("--hello-binary: %w", err)
		}
		return flag, nil
	}
	if _, err := os.Stat(filepath.Join("bin", "hello")); err == nil {
		return filepath.Join("bin", "hello"), nil
	}
	goTool, err := exec.LookPath("go")
	if _, serr := os.Stat(filepath.Join("examples", "hello", "main.go")); err != nil || serr != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "no bin/hello (make hello-image builds it): the devnet registry starts without the hello image")
		return "", nil
	}
	if err := os.MkdirAll(g.home, 0o700); err != nil {
		return "", err
	}
	out := filepath.Join(g.home, "hello")
	fmt.Fprintf(cmd.ErrOrStderr(), "building ./examples/hello into %s ...\n", out)
	b := exec.CommandContext(cmd.Context(), goTool, "build", "-trimpath", "-o", out, "./examples/hello")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := b.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building examples/hello: %v\n%s", err, msg)
	}
	return out, nil
}

func newDevnetStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show each node's pid, liveness, block height and addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := node.LoadDevnet(g.home)
			if err != nil {
				return err
			}
			d.Status(cmd.Context())
			return printDevnet(cmd, d)
		},
	}
}

func newDevnetDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the devnet's spacecores and stop every node (chain state is kept for the next up)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := node.LoadDevnet(g.home)
			if err != nil {
				return err
			}
			d.Down()
			fmt.Fprintf(cmd.OutOrStdout(), "devnet in %s stopped\n", g.home)
			return nil
		},
	}
}
