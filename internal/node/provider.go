package node

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/gateway"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/provider"
	"github.com/vistara-labs/vimana/internal/resources"
	"github.com/vistara-labs/vimana/internal/spacecore"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// X25519KeyFile holds the node's sealing key (secrets for its leases are
// encrypted to it).
const X25519KeyFile = "x25519.key"

// WalletKey is the node key as a wallet key: the provider account.
func (k NodeKey) WalletKey() (*wallet.Key, error) {
	priv, err := hex.DecodeString(k.PrivateKey)
	if err != nil || len(priv) < 32 {
		return nil, fmt.Errorf("%w: node key is corrupt", hypercore.ErrInvalid)
	}
	return wallet.FromSeed(priv[:32])
}

// LoadX25519 reads the node's sealing key, creating it on first use.
func LoadX25519(home string) (*ecdh.PrivateKey, error) {
	path := filepath.Join(home, X25519KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(path, []byte(hex.EncodeToString(k.Bytes())+"\n"), 0o600); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", hypercore.ErrInvalid, path, err)
	}
	return ecdh.X25519().NewPrivateKey(raw)
}

// chainRPC is the RPC URL the node's chain clients use.
func chainRPC(cfg Config) string {
	if cfg.Provider.ChainRPC != "" {
		return cfg.Provider.ChainRPC
	}
	return "http://" + cfg.Chain.RPCListen
}

// ingressOf is the ingress base domain[:port] this node serves leases at.
func ingressOf(cfg Config) string {
	if cfg.Provider.Ingress != "" {
		return cfg.Provider.Ingress
	}
	_, port, _ := net.SplitHostPort(cfg.Gateway.Listen)
	return cfg.Gateway.BaseDomain + ":" + port
}

// newProviderAgent builds the provider agent from the config.
func newProviderAgent(ctx context.Context, home string, cfg Config, key NodeKey, rep *resources.Report, ledger *resources.Ledger,
	provs map[hypercore.Isolation]hypercore.Provider, sup *spacecore.Supervisor, signer *chain.Signer, log *slog.Logger) (*provider.Agent, error) {
	wk, err := key.WalletKey()
	if err != nil {
		return nil, err
	}
	xk, err := LoadX25519(home)
	if err != nil {
		return nil, err
	}
	stake, err := hac.ParseTokens(cfg.Provider.Stake)
	if err != nil {
		return nil, fmt.Errorf("%w: config [provider]: stake: %v", hypercore.ErrInvalid, err)
	}
	isos := offeredIsolation(ctx, provs, log)
	capa := ledger.Offered()
	endpoint := cfg.Provider.Endpoint
	if endpoint == "" {
		endpoint = "http://" + cfg.API.Listen
	}
	offer := market.Offer{
		Endpoint: endpoint, Ingress: ingressOf(cfg), X25519: xk.PublicKey().Bytes(),
		Attributes: market.Attributes{Region: cfg.Provider.Region, Arch: runtime.GOARCH, CPUModel: trimLabel(rep.CPU.Model), Isolation: isos},
		Capacity: market.Resources{CPUMilli: uint64(max(capa.MilliCPU, 0)), MemoryMiB: uint64(max(capa.MemoryBytes, 0) >> 20),
			DiskMiB: uint64(max(capa.DiskBytes, 0) >> 20), GPU: uint64(max(capa.GPUs, 0))},
		Prices: market.Prices{CPUMilli: cfg.Provider.PriceCPUMilli, MemoryMiB: cfg.Provider.PriceMemoryMiB,
			DiskGiB: cfg.Provider.PriceDiskGiB, GPU: cfg.Provider.PriceGPU},
	}
	if cfg.Storage.Enabled {
		capBytes, _ := hac.ParseSize(cfg.Storage.Capacity) // validated
		offer.Storage, offer.Prices.StorageMiB = uint64(capBytes), cfg.Storage.PriceMiB
	}
	return provider.New(provider.Config{
		Key: wk, Offer: offer, Stake: uint64(stake), HeartbeatEvery: cfg.Provider.HeartbeatEvery,
		WithdrawEvery: cfg.Provider.WithdrawEvery, Chain: signer.C, Submit: signer,
		Supervisor: sup, Logger: log, Sealing: xk, SecretsDir: filepath.Join(home, "secrets"),
	}), nil
}

// offeredIsolation lists, sorted, the isolation levels whose provider's
// Probe passes here: a node must not bid for spacecores it cannot run (a
// microvm level without QEMU, say). Probes run concurrently, each bounded
// by resources.ProbeTimeout.
func offeredIsolation(ctx context.Context, provs map[hypercore.Isolation]hypercore.Provider, log *slog.Logger) []string {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		isos []string
	)
	for iso, p := range provs {
		// Offer only the levels the market knows (firecracker is
		// registered for `vimana hardware`, not for orders) and whose
		// Probe passes: bidding with a level that cannot run here would
		// win leases this node cannot serve.
		if !slices.Contains(market.Isolations(), string(iso)) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, resources.ProbeTimeout)
			defer cancel()
			if err := p.Probe(pctx); err != nil {
				log.Warn("not offering an isolation level", "isolation", iso, "err", err)
				return
			}
			mu.Lock()
			isos = append(isos, string(iso))
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(isos)
	return isos
}

// trimLabel keeps a hardware string within the market's attribute rules.
func trimLabel(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			break
		}
		if r < 128 && (r == ' ' || r == '.' || r == '_' || r == '(' || r == ')' || r == '@' || r == '/' || r == '+' || r == '-' ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// leaseRoutes finds leases this node does not run on the chain and routes
// to the ingress of the provider that does, so a lease's URL at any node
// keeps working when the lease moves.
type leaseRoutes struct {
	c    *chain.Client
	self wallet.Address

	mu    sync.Mutex
	cache map[string]leaseRoute
}

type leaseRoute struct {
	t   gateway.Target
	at  time.Time
	err error
}

func (l *leaseRoutes) Lookup(ctx context.Context, id string) (gateway.Target, error) {
	if !market.ValidID(id) {
		return gateway.Target{}, fmt.Errorf("spacecore %s: %w", id, gateway.ErrNotFound)
	}
	l.mu.Lock()
	if r, ok := l.cache[id]; ok && time.Since(r.at) < time.Second {
		l.mu.Unlock()
		return r.t, r.err
	}
	l.mu.Unlock()
	t, err := l.lookup(ctx, id)
	l.mu.Lock()
	if l.cache == nil || len(l.cache) > 10_000 {
		l.cache = map[string]leaseRoute{}
	}
	l.cache[id] = leaseRoute{t: t, at: time.Now(), err: err}
	l.mu.Unlock()
	return t, err
}

func (l *leaseRoutes) lookup(ctx context.Context, id string) (gateway.Target, error) {
	o, err := l.c.Order(ctx, id)
	if err != nil {
		return gateway.Target{}, fmt.Errorf("lease %s: %w", id, gateway.ErrNotFound)
	}
	if o.State != market.OrderLeased || o.Provider == nil || *o.Provider == l.self {
		return gateway.Target{}, nil // known, not served (yet): 502
	}
	p, err := l.c.Provider(ctx, *o.Provider)
	if err != nil {
		return gateway.Target{}, nil
	}
	host, port, err := net.SplitHostPort(p.Ingress)
	if err != nil {
		host, port = p.Ingress, "80"
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		host = "127.0.0.1"
	}
	if _, err := url.Parse("http://" + net.JoinHostPort(host, port)); err != nil {
		return gateway.Target{}, nil
	}
	return gateway.Target{Addr: net.JoinHostPort(host, port), Up: true}, nil
}
