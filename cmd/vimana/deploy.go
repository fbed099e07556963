package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vistara-labs/vimana/internal/api"
	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/node"
	"github.com/vistara-labs/vimana/internal/tenant"
)

var tenantKeyName string

// tenantKeyFlag adds --key to a marketplace command.
func tenantKeyFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&tenantKeyName, "key", "tenant", "keystore name of the tenant key that signs orders and provider API calls")
	cmd.Flags().StringVar(&rpcURL, "rpc", "", "chain RPC URL (default: the devnet in --home, else this node's [chain] rpc_listen)")
	cmd.Flags().StringVar(&passphraseFile, "passphrase-file", "", "file holding the keystore passphrase")
}

// edgeIngress is the ingress lease URLs are built on: the devnet's first
// node, else this home's node gateway.
func edgeIngress() (string, error) {
	if d, err := node.LoadDevnet(g.home); err == nil && len(d.Nodes) > 0 {
		cfg, err := node.LoadConfig(d.Nodes[0].Home)
		if err != nil {
			return "", err
		}
		_, port, _ := net.SplitHostPort(cfg.Gateway.Listen)
		return cfg.Gateway.BaseDomain + ":" + port, nil
	}
	cfg, err := node.LoadConfig(g.home)
	if err != nil {
		return "", fmt.Errorf("no devnet and no node config in %s to build lease URLs on: %w", g.home, err)
	}
	_, port, _ := net.SplitHostPort(cfg.Gateway.Listen)
	return cfg.Gateway.BaseDomain + ":" + port, nil
}

// devnetRegistry is the registry a devnet in --home runs, if any.
func devnetRegistry() string {
	if d, err := node.LoadDevnet(g.home); err == nil && d.Registry != nil {
		return d.Registry.Addr
	}
	return ""
}

func newDeployer() (*tenant.Deployer, error) {
	c, err := chainClient()
	if err != nil {
		return nil, err
	}
	k, err := loadKey(tenantKeyName)
	if err != nil {
		return nil, err
	}
	edge, err := edgeIngress()
	if err != nil {
		return nil, err
	}
	return &tenant.Deployer{Chain: c, Signer: &chain.Signer{C: c, Key: k}, Edge: edge}, nil
}

// secretValues reads the value of every name from --secret-file NAME=PATH
// or the environment variable NAME.
func secretValues(names, files []string) (map[string]string, error) {
	paths := map[string]string{}
	for _, f := range files {
		n, p, ok := strings.Cut(f, "=")
		if !ok || n == "" || p == "" {
			return nil, fmt.Errorf("--secret-file %q: want NAME=PATH", f)
		}
		paths[n] = p
	}
	vals := map[string]string{}
	for _, n := range names {
		if p, ok := paths[n]; ok {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("secret %s: %w", n, err)
			}
			vals[n] = strings.TrimRight(string(b), "\n")
			continue
		}
		v, ok := os.LookupEnv(n)
		if !ok {
			return nil, fmt.Errorf("secret %s: set $%s or pass --secret-file %s=PATH", n, n, n)
		}
		vals[n] = v
	}
	return vals, nil
}

func newDeployCmd() *cobra.Command {
	var secretFiles []string
	var deposit, maxPrice, imageRef, registry string
	var leaseTimeout, serveTimeout time.Duration
	var noWait bool
	cmd := &cobra.Command{
		Use:   "deploy FILE",
		Short: "Deploy a hac.toml through the marketplace: order → auction → lease → URL",
		Long: `deploy turns FILE into an order on the microchain (resources, image digest,
ports, constraints, max price, deposit into escrow), waits for the auction to
lease it to a provider and for the lease's URL to answer, then prints the lease
ID, provider, price per block and URL (-o json: keys lease, provider, price, url).

A local image (oci-layout:, docker-archive:) is pushed to --registry (default:
the devnet's registry) and ordered by digest, so every provider runs the same
bytes. Pay-as-you-go: the provider is paid per block from the escrow; close the
lease with ` + "`vimana lease close ID`" + ` to get the rest back.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, warns, err := hac.ParseFile(args[0])
			if err != nil {
				return err
			}
			for _, w := range warns {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w.String())
			}
			var mp, dep uint64
			if maxPrice != "" {
				v, err := hac.ParseTokens(maxPrice)
				if err != nil {
					return fmt.Errorf("--max-price: %w", err)
				}
				mp = uint64(v)
			}
			if deposit != "" {
				v, err := hac.ParseTokens(deposit)
				if err != nil {
					return fmt.Errorf("--deposit: %w", err)
				}
				dep = uint64(v)
			}
			secrets, err := secretValues(spec.Secrets.Names, secretFiles)
			if err != nil {
				return err
			}
			ref := spec.Image.Ref
			if imageRef != "" {
				ref = imageRef
			}
			if registry == "" {
				registry = devnetRegistry()
			}
			d, err := newDeployer()
			if err != nil {
				return err
			}
			if !jsonOutput() {
				d.Progress = func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), msg) }
			}
			d.Secrets = secrets
			pinned, err := tenant.PublishImage(cmd.Context(), ref, registry, tenant.RepoName(spec))
			if err != nil {
				return err
			}
			if pinned != ref && !jsonOutput() {
				fmt.Fprintf(cmd.ErrOrStderr(), "pushed %s as %s\n", ref, pinned)
			}
			order, err := tenant.Order(spec, pinned, mp, dep)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if noWait {
				serveTimeout = 0
			}
			res, err := d.Deploy(cmd.Context(), order, leaseTimeout, serveTimeout)
			if err != nil {
				if res.Lease != "" && jsonOutput() {
					_ = printJSON(cmd.OutOrStdout(), res)
				}
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), res)
			}
			return printTable(cmd.OutOrStdout(), []string{"LEASE", "PROVIDER", "PRICE(uvis/block)", "URL", "TOOK"},
				[][]string{{res.Lease, res.Provider, fmt.Sprint(res.Price), res.URL, res.Elapsed}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&deposit, "deposit", "", "escrow deposit, e.g. 5vis (default [deploy] deposit, else 1000 blocks at max price)")
	f.StringVar(&maxPrice, "max-price", "", "highest price per block, e.g. 0.01vis (default [deploy] max_price, else 0.1vis)")
	f.StringVar(&imageRef, "image", "", "image reference overriding [image] ref")
	f.StringVar(&registry, "registry", "", "registry HOST:PORT to push a local image to (default: the devnet's)")
	f.DurationVar(&leaseTimeout, "lease-timeout", tenant.DefaultLeaseTimeout, "how long to wait for a lease")
	f.DurationVar(&serveTimeout, "serve-timeout", tenant.DefaultServingTimeout, "how long to wait for the URL to answer")
	f.BoolVar(&noWait, "no-wait", false, "return once leased, without waiting for the URL")
	f.StringArrayVar(&secretFiles, "secret-file", nil, "NAME=PATH: read secret NAME from a file (default: from $NAME); repeatable")
	tenantKeyFlag(cmd)
	return cmd
}

func newLeaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease",
		Short: "Inspect and manage your marketplace leases",
	}
	cmd.AddCommand(newLeaseLsCmd(), newLeaseStatusCmd(), newLeaseLogsCmd(), newLeaseExecCmd(), newLeaseCloseCmd(), newLeaseTopUpCmd(), newLeaseSecretsCmd())
	return cmd
}

// leaseView is a lease as the CLI shows it.
type leaseView struct {
	market.Order
	ProviderAddress string `json:"provider_address,omitempty"`
	Endpoint        string `json:"endpoint,omitempty"`
	URL             string `json:"url"`
}

func viewOf(ctx context.Context, d *tenant.Deployer, o market.Order) leaseView {
	v := leaseView{Order: o, URL: market.URL("http", d.Edge, o.ID)}
	if o.Provider != nil {
		v.ProviderAddress = o.Provider.String()
		if p, err := d.Chain.Provider(ctx, *o.Provider); err == nil {
			v.Endpoint = p.Endpoint
		}
	}
	return v
}

func newLeaseLsCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use: "ls", Short: "List your leases and open orders (--all: closed ones too)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := newDeployer()
			if err != nil {
				return err
			}
			os, err := d.Chain.Owned(cmd.Context(), d.Owner())
			if err != nil {
				return err
			}
			var views []leaseView
			for _, o := range os {
				if all || o.State != market.OrderClosed {
					views = append(views, viewOf(cmd.Context(), d, o))
				}
			}
			if jsonOutput() {
				if views == nil {
					views = []leaseView{}
				}
				return printJSON(cmd.OutOrStdout(), views)
			}
			rows := [][]string{}
			for _, v := range views {
				rows = append(rows, []string{v.ID, v.Name, v.State, v.ProviderAddress, fmt.Sprint(v.Price), fmt.Sprint(v.Escrow), v.Reason, v.URL})
			}
			return printTable(cmd.OutOrStdout(), []string{"LEASE", "NAME", "STATE", "PROVIDER", "PRICE", "ESCROW", "REASON", "URL"}, rows)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include closed leases")
	tenantKeyFlag(cmd)
	return cmd
}

func newLeaseStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "status ID", Short: "Show a lease: state, provider, price, escrow, URL", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := newDeployer()
			if err != nil {
				return err
			}
			o, err := d.Chain.Order(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			v := viewOf(cmd.Context(), d, o)
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return printTable(cmd.OutOrStdout(), []string{"LEASE", "STATE", "PROVIDER", "PRICE", "ESCROW", "PAID", "LEASES", "REASON", "URL"},
				[][]string{{v.ID, v.State, v.ProviderAddress, fmt.Sprint(v.Price), fmt.Sprint(v.Escrow), fmt.Sprint(v.Paid), fmt.Sprint(v.Leases), v.Reason, v.URL}})
		},
	}
	tenantKeyFlag(cmd)
	return cmd
}

// providerClient connects to the API of the provider serving lease id,
// signing with the tenant key (the provider checks it owns the lease).
func providerClient(ctx context.Context, id string) (*api.Client, error) {
	d, err := newDeployer()
	if err != nil {
		return nil, err
	}
	o, err := d.Chain.Order(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.State != market.OrderLeased || o.Provider == nil {
		return nil, fmt.Errorf("lease %s is %s (%s): no provider serves it now", id, o.State, o.Reason)
	}
	p, err := d.Chain.Provider(ctx, *o.Provider)
	if err != nil {
		return nil, err
	}
	return api.DialTCP(p.Endpoint, ed25519.NewKeyFromSeed(d.Signer.Key.Seed())), nil
}

func newLeaseLogsCmd() *cobra.Command {
	var follow bool
	var tail int
	cmd := &cobra.Command{
		Use: "logs ID", Short: "Print a lease's logs from its provider (-f follows)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := providerClient(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printLogs(cmd, c, args[0], follow, tail)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming")
	cmd.Flags().IntVar(&tail, "tail", 0, "only the last N lines")
	tenantKeyFlag(cmd)
	return cmd
}

func newLeaseExecCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "exec ID -- CMD [ARG...]", Short: "Run a command inside a lease's spacecore on its provider", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := providerClient(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return execOnce(cmd, c, args)
		},
	}
	tenantKeyFlag(cmd)
	return cmd
}

func newLeaseCloseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "close ID", Short: "Close a lease: the provider stops it, the unspent escrow comes back", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := newDeployer()
			if err != nil {
				return err
			}
			if err := d.Close(cmd.Context(), args[0]); err != nil {
				return err
			}
			o, err := waitState(cmd.Context(), d, args[0], market.OrderClosed)
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), viewOf(cmd.Context(), d, o))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lease %s closed (%s); paid %d uvis in total\n", o.ID, o.Reason, o.Paid)
			return nil
		},
	}
	tenantKeyFlag(cmd)
	return cmd
}

func newLeaseTopUpCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "top-up ID AMOUNT", Short: "Add to a lease's escrow, e.g. `vimana lease top-up ID 5vis`", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			amt, err := hac.ParseTokens(args[1])
			if err != nil || amt <= 0 {
				return fmt.Errorf("amount %q: want a positive amount like 5vis or 5000000", args[1])
			}
			d, err := newDeployer()
			if err != nil {
				return err
			}
			before, err := d.Chain.Order(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := d.TopUp(cmd.Context(), args[0], uint64(amt)); err != nil {
				return err
			}
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				o, err := d.Chain.Order(cmd.Context(), args[0])
				if err == nil && o.Escrow+o.Paid > before.Escrow+before.Paid {
					if jsonOutput() {
						return printJSON(cmd.OutOrStdout(), viewOf(cmd.Context(), d, o))
					}
					fmt.Fprintf(cmd.OutOrStdout(), "lease %s escrow is now %d uvis\n", o.ID, o.Escrow)
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return fmt.Errorf("top-up of %s submitted but not committed within 30s", args[0])
		},
	}
	tenantKeyFlag(cmd)
	return cmd
}

func waitState(ctx context.Context, d *tenant.Deployer, id, state string) (market.Order, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		o, err := d.Chain.Order(ctx, id)
		if err == nil && o.State == state {
			return o, nil
		}
		if time.Now().After(deadline) {
			return o, fmt.Errorf("lease %s did not reach %s within 30s", id, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newLeaseSecretsCmd() *cobra.Command {
	var secretFiles []string
	cmd := &cobra.Command{
		Use:   "secrets ID",
		Short: "Seal the lease's secrets to its current provider and deliver them (e.g. after it moved)",
		Long: `A lease's secret values never go on chain: deploy seals them to the winning
provider's X25519 key. When a lease moves to another provider, the new one waits
for them: run this with the same $NAME variables or --secret-file NAME=PATH.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := newDeployer()
			if err != nil {
				return err
			}
			o, err := d.Chain.Order(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(o.Secrets) == 0 {
				return fmt.Errorf("lease %s names no secrets", o.ID)
			}
			if d.Secrets, err = secretValues(o.Secrets, secretFiles); err != nil {
				return err
			}
			if err := d.DeliverSecrets(cmd.Context(), o); err != nil {
				return apiErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d secrets sealed to %s and delivered\n", len(o.Secrets), o.Provider)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&secretFiles, "secret-file", nil, "NAME=PATH: read secret NAME from a file (default: from $NAME); repeatable")
	tenantKeyFlag(cmd)
	return cmd
}
