// Package tenant is the tenant's side of the marketplace: it turns a
// hac.toml into an order (pushing a local image to a registry so the
// order names it by digest), submits it, waits for the chain to lease it,
// and waits until the lease's URL answers; it also closes and tops up
// leases and talks to the serving provider's API, signing every call with
// the tenant key (docs/market.md).
package tenant

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"connectrpc.com/connect"

	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/internal/api"
	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Defaults when hac.toml's [deploy] leaves the market terms out.
const (
	DefaultMaxPrice       = 100_000 // uvis per block
	DefaultDepositBlocks  = 1_000   // deposit covers this many blocks at max price
	DefaultLeaseTimeout   = 60 * time.Second
	DefaultServingTimeout = 60 * time.Second
)

// Order builds the order for spec, whose image is already digest-pinned.
func Order(spec *hac.Spec, imageRef string, maxPrice, deposit uint64) (*market.Create, error) {
	hw := spec.Hardware
	m := &market.Create{
		Name: spec.Spacecore.Name, Image: imageRef,
		Resources: market.Resources{
			CPUMilli: uint64(hw.MilliCPU), MemoryMiB: uint64((hw.Memory + (1<<20 - 1)) >> 20),
			DiskMiB: uint64((hw.Disk + (1<<20 - 1)) >> 20), GPU: uint64(hw.GPU.Count),
		},
		Isolation: hw.Isolation, Regions: spec.Deploy.Regions, Replicas: uint64(max(spec.Deploy.Replicas, 1)),
		MaxPrice: maxPrice, Deposit: deposit, Secrets: spec.Secrets.Names,
	}
	if m.Isolation == "sandbox" {
		m.Isolation = "" // the default every provider offers
	}
	for k, v := range spec.Deploy.Attributes {
		switch k {
		case "region":
			m.Attributes.Region = v
		case "arch":
			m.Attributes.Arch = v
		case "cpu_model":
			m.Attributes.CPUModel = v
		case "gpu_vendor":
			m.Attributes.GPUVendor = v
		case "gpu_model":
			m.Attributes.GPUModel = v
		default:
			return nil, fmt.Errorf("[deploy] attributes: unknown attribute %q (want region, arch, cpu_model, gpu_vendor or gpu_model)", k)
		}
	}
	for _, p := range spec.Network.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		m.Ports = append(m.Ports, market.Port{Port: uint32(p.Port), Proto: proto})
	}
	if m.MaxPrice == 0 {
		m.MaxPrice = DefaultMaxPrice
		if spec.Deploy.MaxPrice > 0 {
			m.MaxPrice = uint64(spec.Deploy.MaxPrice)
		}
	}
	if m.Deposit == 0 {
		m.Deposit = m.MaxPrice * DefaultDepositBlocks
		if spec.Deploy.Deposit > 0 {
			m.Deposit = uint64(spec.Deploy.Deposit)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// IsPinned reports whether ref names an image by digest.
func IsPinned(ref string) bool { return strings.Contains(ref, "@sha256:") }

// PublishImage makes ref available to providers by digest: a pinned
// reference is returned as is; a local one (oci-layout:, docker-archive:)
// is pushed to registry (host:port) under repo and returned pinned.
func PublishImage(ctx context.Context, ref, registry, repo string) (string, error) {
	if IsPinned(ref) {
		return ref, nil
	}
	if !image.IsLocal(ref) {
		return "", fmt.Errorf("image %s is neither digest-pinned nor local: pin it (NAME@sha256:…) so every provider runs the same bytes", ref)
	}
	img, err := image.LoadLocal(ref)
	if err != nil {
		return "", fmt.Errorf("reading image %s: %w", ref, err)
	}
	if registry == "" {
		return "", errors.New("image " + ref + " is local and no registry is known: pass --registry HOST:PORT (a devnet has one)")
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	tagged := registry + "/" + repo + ":latest"
	if err := image.Push(ctx, img, tagged, nil); err != nil {
		return "", err
	}
	return registry + "/" + repo + "@" + d.String(), nil
}

// Result is a deployed lease.
type Result struct {
	Lease    string `json:"lease"`
	Provider string `json:"provider"`
	Price    uint64 `json:"price"` // uvis per block
	URL      string `json:"url"`
	Height   int64  `json:"leased_at"`
	Serving  bool   `json:"serving"` // the URL answered
	Elapsed  string `json:"elapsed"`
}

// Deployer submits orders and follows them.
type Deployer struct {
	Chain  *chain.Client
	Signer *chain.Signer
	// Edge is the ingress base domain[:port] URLs are built on (a gateway
	// that forwards to whichever provider holds the lease).
	Edge     string
	Progress func(msg string) // optional
	// Secrets are the values of the order's secret names; they are sealed
	// to the winning provider and sent to its API, never to the chain.
	Secrets map[string]string
}

func (d *Deployer) progress(format string, a ...any) {
	if d.Progress != nil {
		d.Progress(fmt.Sprintf(format, a...))
	}
}

// Deploy submits m, waits for a lease and, unless serveTimeout is zero,
// for the lease's URL to answer.
func (d *Deployer) Deploy(ctx context.Context, m *market.Create, leaseTimeout, serveTimeout time.Duration) (Result, error) {
	start := time.Now()
	sub, _, err := d.Signer.SubmitAndWait(ctx, market.TypeOrder, m, leaseTimeout)
	if err != nil {
		return Result{}, err
	}
	id := market.OrderID(sub.Hash)
	d.progress("order %s submitted; waiting for the auction", id)
	o, err := d.WaitLease(ctx, id, leaseTimeout)
	if err != nil {
		return Result{Lease: id}, err
	}
	res := Result{Lease: id, Provider: o.Provider.String(), Price: o.Price, URL: market.URL("http", d.Edge, id), Height: o.LeasedAt}
	d.progress("leased to %s at %d uvis/block; waiting for %s", res.Provider, res.Price, res.URL)
	if len(m.Secrets) > 0 {
		if err := d.DeliverSecrets(ctx, o); err != nil {
			return res, fmt.Errorf("lease %s: delivering secrets: %w", id, err)
		}
		d.progress("secrets sealed to the provider and delivered")
	}
	if serveTimeout > 0 {
		if err := WaitServing(ctx, res.URL, serveTimeout); err != nil {
			res.Elapsed = time.Since(start).Round(time.Millisecond).String()
			return res, err
		}
		res.Serving = true
	}
	res.Elapsed = time.Since(start).Round(time.Millisecond).String()
	return res, nil
}

// WaitLease polls the chain until order id is leased; a closed order
// returns its reason.
func (d *Deployer) WaitLease(ctx context.Context, id string, timeout time.Duration) (market.Order, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		o, err := d.Chain.Order(ctx, id)
		if err == nil {
			switch o.State {
			case market.OrderLeased:
				return o, nil
			case market.OrderClosed:
				return o, fmt.Errorf("order %s closed without a lease: %s (deposit refunded)", id, o.Reason)
			}
		}
		select {
		case <-ctx.Done():
			return market.Order{}, fmt.Errorf("order %s: no lease within %s (still open; `vimana lease close %s` refunds it)", id, timeout, id)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitServing polls url until it answers with a status below 500 other
// than 404 (the gateway's "no such spacecore").
func WaitServing(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: LoopbackTransport()}
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusNotFound {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %s (last: %s)", url, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// LoopbackTransport resolves *.localhost to 127.0.0.1 (as browsers do),
// so devnet URLs work without DNS setup.
func LoopbackTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	dial := t.DialContext
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err == nil && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
			addr = "127.0.0.1:" + port
		}
		return dial(ctx, network, addr)
	}
	return t
}

// DeliverSecrets seals d.Secrets (exactly the names o lists) to o's
// provider and hands them to its API, signed with the tenant key.
func (d *Deployer) DeliverSecrets(ctx context.Context, o market.Order) error {
	if o.Provider == nil {
		return fmt.Errorf("lease %s has no provider now", o.ID)
	}
	vals := map[string]string{}
	for _, n := range o.Secrets {
		v, ok := d.Secrets[n]
		if !ok {
			return fmt.Errorf("no value for secret %s", n)
		}
		vals[n] = v
	}
	plain, err := json.Marshal(vals)
	if err != nil {
		return err
	}
	p, err := d.Chain.Provider(ctx, *o.Provider)
	if err != nil {
		return err
	}
	box, err := wallet.Seal(p.X25519, "vimana/secrets/v1/"+o.ID, plain)
	if err != nil {
		return err
	}
	c := api.DialTCP(p.Endpoint, ed25519.NewKeyFromSeed(d.Signer.Key.Seed()))
	// The provider checks the lease against its own node, which may be a
	// block behind the node this tenant asked: until its agent has seen the
	// lease it answers PermissionDenied (the key owns nothing there yet),
	// NotFound or FailedPrecondition, so retry those (and an API that is
	// briefly unreachable) for a while.
	deadline := time.Now().Add(secretsRetry)
	for {
		_, err = c.Leases.DeliverSecrets(ctx, connect.NewRequest(&vimanav1.DeliverSecretsRequest{Lease: o.ID, Sealed: box}))
		switch connect.CodeOf(err) {
		case connect.CodeNotFound, connect.CodeFailedPrecondition, connect.CodeUnavailable, connect.CodePermissionDenied:
			if time.Now().Before(deadline) {
				select {
				case <-ctx.Done():
					return err
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
		}
		return err
	}
}

// secretsRetry bounds how long DeliverSecrets waits for the provider's
// node to catch up with the lease.
const secretsRetry = 15 * time.Second

// Close closes a lease (the owner's refund is immediate).
func (d *Deployer) Close(ctx context.Context, id string) error {
	_, _, err := d.Signer.SubmitAndWait(ctx, market.TypeClose, &market.Close{Lease: id}, 30*time.Second)
	return err
}

// TopUp adds amount uvis to a lease's escrow.
func (d *Deployer) TopUp(ctx context.Context, id string, amount uint64) error {
	_, _, err := d.Signer.SubmitAndWait(ctx, market.TypeTopUp, &market.TopUp{Lease: id, Amount: amount}, 30*time.Second)
	return err
}

// RepoName is the registry repository a spec's image is pushed to.
func RepoName(spec *hac.Spec) string {
	n := strings.ToLower(spec.Spacecore.Name)
	if _, err := name.NewRepository("localhost/" + n); err != nil || n == "" {
		return "spacecore"
	}
	return n
}

// Owner is the address orders are made from.
func (d *Deployer) Owner() wallet.Address { return d.Signer.Key.Address() }
