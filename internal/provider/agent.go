// Package provider is the provider agent: it keeps the node registered on
// the microchain, heartbeats, bids on open orders it can serve (holding a
// local reservation until each auction ends), runs the leases it wins as
// spacecores named by their lease ID (so the gateway serves
// <lease>.<base-domain>), removes spacecores whose lease ended or moved,
// and withdraws its earnings; its Auditor answers the storage audits the
// chain issues for the pieces it holds. The chain is the truth: every new block the
// agent reconciles local state against it (docs/market.md).
package provider

import (
	"context"
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/spacecore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Supervisor is what the agent needs of the spacecore supervisor.
type Supervisor interface {
	Create(ctx context.Context, req spacecore.CreateRequest) (spacecore.Record, error)
	List(f spacecore.Filter) []spacecore.Record
	Remove(ctx context.Context, id string) error
}

// Chain is what the agent reads from the microchain.
type Chain interface {
	Height(ctx context.Context) (int64, error)
	Provider(ctx context.Context, a wallet.Address) (market.Provider, error)
	OpenOrders(ctx context.Context) ([]market.Order, error)
	Leases(ctx context.Context, a wallet.Address) ([]market.Order, error)
	Order(ctx context.Context, id string) (market.Order, error)
}

// Submitter sends the agent's transactions.
type Submitter interface {
	Submit(ctx context.Context, typ string, msg app.Msg) (chain.Submitted, error)
}

// Config configures an agent.
type Config struct {
	Key            *wallet.Key
	Offer          market.Offer
	Stake          uint64
	HeartbeatEvery int64 // blocks
	WithdrawEvery  int64 // blocks
	Poll           time.Duration
	Chain          Chain
	Submit         Submitter
	Supervisor     Supervisor
	Logger         *slog.Logger
	// Sealing is the X25519 key whose public half is in the offer;
	// SecretsDir keeps the sealed secrets of leases (0700).
	Sealing    *ecdh.PrivateKey
	SecretsDir string
}

// Agent runs the provider side of the marketplace.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	addr wallet.Address

	mu       sync.Mutex
	bids     map[string]market.Resources // open orders we bid on → what we reserved
	starting map[string]bool             // leases whose spacecore is being created
	removing map[string]bool
	lastHB   int64
	lastWD   int64
	owners   map[string]bool // hex keys owning our current leases
	kick     chan struct{}   // run a step now (secrets arrived)
	wg       sync.WaitGroup
}

// New returns an agent; Run drives it.
func New(cfg Config) *Agent {
	if cfg.Poll == 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Agent{cfg: cfg, log: log.With("component", "provider"), addr: cfg.Key.Address(),
		bids: map[string]market.Resources{}, starting: map[string]bool{}, removing: map[string]bool{},
		owners: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// Address is the provider's account.
func (a *Agent) Address() wallet.Address { return a.addr }

// IsLease reports whether a spacecore record is one the agent runs for a
// lease (its ID and name are the lease ID).
func IsLease(r spacecore.Record) bool { return r.ID == r.Name && market.ValidID(r.ID) }

// Run reconciles once per new block until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	defer a.wg.Wait()
	var last int64
	t := time.NewTicker(a.cfg.Poll)
	defer t.Stop()
	for {
		kicked := false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.kick:
			kicked = true
		}
		h, err := a.cfg.Chain.Height(ctx)
		if err != nil || (h == last && !kicked) {
			continue
		}
		last = h
		if err := a.step(ctx, h); err != nil && ctx.Err() == nil {
			a.log.Warn("provider step", "height", h, "err", err)
		}
	}
}

func (a *Agent) step(ctx context.Context, h int64) error {
	p, err := a.cfg.Chain.Provider(ctx, a.addr)
	if err != nil {
		// Not registered (or the query failed): register.
		_, serr := a.cfg.Submit.Submit(ctx, market.TypeRegister, &market.Register{Offer: a.cfg.Offer, Stake: a.cfg.Stake})
		if serr != nil {
			return fmt.Errorf("registering (provider query: %v): %w", err, serr)
		}
		a.log.Info("registering as provider", "address", a.addr, "stake", a.cfg.Stake)
		return nil
	}
	if p.Status == market.ProviderUnbonding {
		return nil
	}
	if !sameOffer(p, a.cfg.Offer) {
		if _, err := a.cfg.Submit.Submit(ctx, market.TypeUpdate, &market.Update{Offer: a.cfg.Offer}); err != nil {
			a.log.Warn("updating offer", "err", err)
		}
	}
	if p.Status == market.ProviderLost || h-max(p.Heartbeat, a.lastHB) >= a.cfg.HeartbeatEvery {
		if _, err := a.cfg.Submit.Submit(ctx, market.TypeHeartbeat, &market.Heartbeat{}); err != nil {
			a.log.Warn("heartbeat", "err", err)
		} else {
			a.lastHB = h
		}
	}
	leases, err := a.cfg.Chain.Leases(ctx, a.addr)
	if err != nil {
		return err
	}
	owners := map[string]bool{}
	for _, o := range leases {
		owners[hex.EncodeToString(o.OwnerKey)] = true
	}
	a.mu.Lock()
	a.owners = owners
	a.mu.Unlock()
	a.reconcile(ctx, leases)
	if p.Status == market.ProviderActive {
		if err := a.bidOnOpen(ctx, p, leases); err != nil {
			return err
		}
	}
	if p.Earned > 0 && h-a.lastWD >= a.cfg.WithdrawEvery {
		if _, err := a.cfg.Submit.Submit(ctx, market.TypeWithdraw, &market.Withdraw{}); err == nil {
			a.lastWD = h
			a.log.Info("withdrew earnings", "uvis", p.Earned)
		}
	}
	return nil
}

func sameOffer(p market.Provider, o market.Offer) bool {
	return p.Endpoint == o.Endpoint && p.Ingress == o.Ingress && slices.Equal(p.X25519, o.X25519) &&
		p.Capacity == o.Capacity && p.Prices == o.Prices && p.Storage == o.Storage && p.Attributes.Region == o.Attributes.Region &&
		p.Attributes.Arch == o.Attributes.Arch && p.Attributes.CPUModel == o.Attributes.CPUModel &&
		p.Attributes.GPUVendor == o.Attributes.GPUVendor && p.Attributes.GPUModel == o.Attributes.GPUModel &&
		slices.Equal(p.Attributes.Isolation, o.Attributes.Isolation)
}

// reconcile starts a spacecore for every lease the chain says is ours and
// removes lease spacecores the chain no longer gives us.
func (a *Agent) reconcile(ctx context.Context, leases []market.Order) {
	want := map[string]market.Order{}
	for _, o := range leases {
		want[o.ID] = o
	}
	have := map[string]bool{}
	for _, r := range a.cfg.Supervisor.List(spacecore.Filter{}) {
		if !IsLease(r) || r.Desired == spacecore.DesiredDeleted {
			continue
		}
		have[r.ID] = true
		if _, ok := want[r.ID]; !ok {
			a.async(ctx, a.removing, r.ID, func(ctx context.Context) error {
				a.log.Info("lease ended or moved: removing its spacecore", "lease", r.ID)
				a.dropSecrets(r.ID)
				return a.cfg.Supervisor.Remove(ctx, r.ID)
			})
		}
	}
	for _, id := range slices.Sorted(mapKeys(want)) {
		if have[id] {
			continue
		}
		o := want[id]
		var env []string
		if len(o.Secrets) > 0 {
			var ok bool
			if env, ok = a.secretEnv(o); !ok {
				continue // started once the tenant delivers them
			}
		}
		a.async(ctx, a.starting, id, func(ctx context.Context) error {
			start := time.Now()
			req := LeaseSpacecore(o)
			req.Override.Env = env
			_, err := a.cfg.Supervisor.Create(ctx, req)
			if errors.Is(err, hypercore.ErrAlreadyExists) {
				return nil
			}
			if err == nil {
				a.log.Info("lease started", "lease", o.ID, "owner", o.Owner, "image", o.Image, "took", time.Since(start).Round(time.Millisecond))
			}
			return err
		})
	}
}

// async runs f for id unless one is already running in set.
func (a *Agent) async(ctx context.Context, set map[string]bool, id string, f func(context.Context) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if set[id] {
		return
	}
	set[id] = true
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("lease action failed", "lease", id, "err", err)
		}
		a.mu.Lock()
		delete(set, id)
		a.mu.Unlock()
	}()
}

// IsTenant reports whether key (hex) owns one of this provider's current
// leases on chain; such keys may call the lease service and reach their
// lease spacecores through the API.
func (a *Agent) IsTenant(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.owners[key]
}

// secretsInfo binds a sealed box to one lease.
func secretsInfo(lease string) string { return "vimana/secrets/v1/" + lease }

// DeliverSecrets implements api.Leases: the lease's owner hands over its
// secrets, sealed to this provider's key. They are checked (owner on chain,
// this provider serves the lease, the box opens, exactly the order's
// names), kept sealed on disk, and the lease starts with them.
func (a *Agent) DeliverSecrets(ctx context.Context, caller, lease string, sealed []byte) (bool, error) {
	if !market.ValidID(lease) {
		return false, fmt.Errorf("%w: %q is not a lease id", hypercore.ErrInvalid, lease)
	}
	o, err := a.cfg.Chain.Order(ctx, lease)
	if err != nil {
		return false, fmt.Errorf("%w: lease %s: %v", hypercore.ErrNotFound, lease, err)
	}
	if hex.EncodeToString(o.OwnerKey) != caller {
		return false, fmt.Errorf("%w: lease %s belongs to another key", hypercore.ErrPermission, lease)
	}
	if o.State != market.OrderLeased || o.Provider == nil || *o.Provider != a.addr {
		return false, fmt.Errorf("%w: lease %s is not served by this provider (%s)", hypercore.ErrState, lease, o.State)
	}
	if _, err := a.openSecrets(o, sealed); err != nil {
		return false, err
	}
	if a.cfg.SecretsDir == "" {
		return false, fmt.Errorf("%w: this provider keeps no secrets", hypercore.ErrState)
	}
	if err := os.MkdirAll(a.cfg.SecretsDir, 0o700); err != nil {
		return false, err
	}
	path := filepath.Join(a.cfg.SecretsDir, lease)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, sealed, 0o600); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, err
	}
	a.log.Info("secrets received", "lease", lease, "names", len(o.Secrets)) // never the values
	select {
	case a.kick <- struct{}{}:
	default:
	}
	return true, nil
}

// openSecrets opens a box for o and checks it holds exactly o's names.
func (a *Agent) openSecrets(o market.Order, sealed []byte) (map[string]string, error) {
	if a.cfg.Sealing == nil {
		return nil, fmt.Errorf("%w: this provider has no sealing key", hypercore.ErrState)
	}
	plain, err := wallet.Open(a.cfg.Sealing, secretsInfo(o.ID), sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hypercore.ErrInvalid, err)
	}
	var vals map[string]string
	if err := json.Unmarshal(plain, &vals); err != nil {
		return nil, fmt.Errorf("%w: secrets are not a JSON object of strings", hypercore.ErrInvalid)
	}
	if len(vals) != len(o.Secrets) {
		return nil, fmt.Errorf("%w: %d secrets sealed, the order names %d", hypercore.ErrInvalid, len(vals), len(o.Secrets))
	}
	for _, n := range o.Secrets {
		if _, ok := vals[n]; !ok {
			return nil, fmt.Errorf("%w: secret %s missing", hypercore.ErrInvalid, n)
		}
	}
	return vals, nil
}

// secretEnv returns o's secrets as KEY=VALUE, if they were delivered.
func (a *Agent) secretEnv(o market.Order) ([]string, bool) {
	if a.cfg.SecretsDir == "" {
		return nil, false
	}
	sealed, err := os.ReadFile(filepath.Join(a.cfg.SecretsDir, o.ID))
	if err != nil {
		return nil, false
	}
	vals, err := a.openSecrets(o, sealed)
	if err != nil {
		a.log.Warn("stored secrets unusable", "lease", o.ID, "err", err)
		return nil, false
	}
	env := make([]string, 0, len(o.Secrets))
	for _, n := range o.Secrets {
		env = append(env, n+"="+vals[n])
	}
	return env, true
}

func (a *Agent) dropSecrets(lease string) {
	if a.cfg.SecretsDir != "" {
		_ = os.Remove(filepath.Join(a.cfg.SecretsDir, lease))
	}
}

// LeaseSpacecore is the spacecore a lease runs as.
func LeaseSpacecore(o market.Order) spacecore.CreateRequest {
	iso := hypercore.Isolation(o.Isolation)
	if iso == "" {
		iso = hypercore.IsolationSandbox
	}
	spec := hypercore.MachineSpec{
		Name: o.ID, Isolation: iso,
		Resources: hypercore.Resources{
			MilliCPU: int64(o.Resources.CPUMilli), MemoryBytes: int64(o.Resources.MemoryMiB) << 20,
			DiskBytes: int64(o.Resources.DiskMiB) << 20, Pids: 1024, GPUs: int(o.Resources.GPU),
		},
		Labels: map[string]string{"vimana.lease": o.ID, "vimana.lease.owner": o.Owner.String()},
	}
	for _, p := range o.Ports {
		spec.Network.Ports = append(spec.Network.Ports, hypercore.Port{Port: int(p.Port), Protocol: p.Proto, HostIP: "127.0.0.1"})
	}
	return spacecore.CreateRequest{
		ID: o.ID, Name: o.ID, Owner: hex.EncodeToString(o.OwnerKey), Spec: spec,
		ImageRef: o.Image, Restart: spacecore.RestartAlways,
	}
}

// bidOnOpen bids on every open order this node can serve and has not bid
// on, reserving its resources until the auction ends.
func (a *Agent) bidOnOpen(ctx context.Context, p market.Provider, leases []market.Order) error {
	open, err := a.cfg.Chain.OpenOrders(ctx)
	if err != nil {
		return err
	}
	isOpen := map[string]bool{}
	for _, o := range open {
		isOpen[o.ID] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.bids {
		if !isOpen[id] {
			delete(a.bids, id) // auction over: the reservation ends
		}
	}
	var reserved market.Resources
	for _, r := range a.bids {
		reserved = addRes(reserved, r)
	}
	free := subRes(p.Capacity, addRes(p.Used, reserved))
	for _, o := range open {
		if _, done := a.bids[o.ID]; done {
			continue
		}
		if why := a.cannotServe(o, free); why != "" {
			continue
		}
		price, ok := a.cfg.Offer.Prices.Quote(o.Resources)
		if !ok || price == 0 {
			price = 1
		}
		if price > o.MaxPrice || price > o.Escrow {
			continue
		}
		if _, err := a.cfg.Submit.Submit(ctx, market.TypeBid, &market.BidMsg{Order: o.ID, Price: price}); err != nil {
			a.log.Warn("bid refused", "order", o.ID, "err", err)
			a.bids[o.ID] = market.Resources{} // don't retry this auction
			continue
		}
		a.bids[o.ID] = o.Resources
		free = subRes(free, o.Resources)
		a.log.Info("bid", "order", o.ID, "price", price)
	}
	return nil
}

func (a *Agent) cannotServe(o market.Order, free market.Resources) string {
	at := a.cfg.Offer.Attributes
	iso := o.Isolation
	if iso == "" {
		iso = string(hypercore.IsolationSandbox)
	}
	switch {
	case !slices.Contains(at.Isolation, iso):
		return "isolation"
	case len(o.Regions) > 0 && !slices.Contains(o.Regions, at.Region):
		return "region"
	case o.Resources.CPUMilli > free.CPUMilli || o.Resources.MemoryMiB > free.MemoryMiB ||
		o.Resources.DiskMiB > free.DiskMiB || o.Resources.GPU > free.GPU:
		return "capacity"
	}
	return ""
}

func addRes(a, b market.Resources) market.Resources {
	return market.Resources{CPUMilli: a.CPUMilli + b.CPUMilli, MemoryMiB: a.MemoryMiB + b.MemoryMiB, DiskMiB: a.DiskMiB + b.DiskMiB, GPU: a.GPU + b.GPU}
}

func subRes(a, b market.Resources) market.Resources {
	d := func(x, y uint64) uint64 {
		if y > x {
			return 0
		}
		return x - y
	}
	return market.Resources{CPUMilli: d(a.CPUMilli, b.CPUMilli), MemoryMiB: d(a.MemoryMiB, b.MemoryMiB), DiskMiB: d(a.DiskMiB, b.DiskMiB), GPU: d(a.GPU, b.GPU)}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
