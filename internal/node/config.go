package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// ConfigVersion is the config schema this binary writes and reads.
const ConfigVersion = 1

// ConfigFile is the config's name inside the node home.
const ConfigFile = "config.toml"

// Config is the node's typed configuration (<home>/config.toml). Unknown
// keys are rejected; Validate names the failing section.
type Config struct {
	Version    int              `toml:"version" comment:"config schema version"`
	Node       NodeConfig       `toml:"node"`
	API        APIConfig        `toml:"api"`
	Gateway    GatewayConfig    `toml:"gateway"`
	Metrics    MetricsConfig    `toml:"metrics"`
	Sandbox    SandboxConfig    `toml:"sandbox"`
	GVisor     GVisorConfig     `toml:"gvisor"`
	Capacity   CapacityConfig   `toml:"capacity"`
	Supervisor SupervisorConfig `toml:"supervisor"`
	Log        LogConfig        `toml:"log"`
	Chain      ChainConfig      `toml:"chain"`
	Provider   ProviderConfig   `toml:"provider"`
	Storage    StorageConfig    `toml:"storage"`
	Image      ImageConfig      `toml:"image"`
}

// StorageConfig makes a provider node hold pieces for storage deals: a
// piece store served on the node API (/v1/pieces), offered on chain with
// the provider's registration, audits answered, and expired pieces
// collected; and optionally a repair worker (docs/storage.md).
type StorageConfig struct {
	Enabled    bool     `toml:"enabled" comment:"serve a piece store for storage deals (needs [provider])"`
	Dir        string   `toml:"dir" comment:"piece directory; relative paths are under the home"`
	Capacity   string   `toml:"capacity" comment:"bytes offered for pieces, e.g. 10GiB"`
	PriceMiB   uint64   `toml:"price_mib" comment:"least uvis per started MiB of piece per block a deal must pay"`
	GCEvery    Duration `toml:"gc_every" comment:"how often pieces of ended deals are deleted"`
	PendingTTL Duration `toml:"pending_ttl" comment:"how long a piece uploaded for a deal not on chain is kept"`
	Repair     bool     `toml:"repair" comment:"run a repair worker that rebuilds flagged deals' pieces (needs a chain)"`
}

// ProviderConfig makes the node a marketplace provider: it registers on
// the microchain with the node key as its account, bids on orders it can
// serve and runs their leases (docs/market.md).
type ProviderConfig struct {
	Enabled        bool   `toml:"enabled" comment:"register on the chain, bid and run leases (needs [chain] or chain_rpc)"`
	ChainRPC       string `toml:"chain_rpc" comment:"CometBFT RPC to use; default the embedded chain's"`
	Region         string `toml:"region" comment:"region attribute offered to orders"`
	Stake          string `toml:"stake" comment:"stake locked at registration, e.g. 10vis"`
	PriceCPUMilli  uint64 `toml:"price_cpu_milli" comment:"uvis per block per milli-CPU"`
	PriceMemoryMiB uint64 `toml:"price_memory_mib" comment:"uvis per block per MiB of memory"`
	PriceDiskGiB   uint64 `toml:"price_disk_gib" comment:"uvis per block per started GiB of disk"`
	PriceGPU       uint64 `toml:"price_gpu" comment:"uvis per block per GPU"`
	HeartbeatEvery int64  `toml:"heartbeat_every" comment:"blocks between heartbeats (keep well under the chain's grace)"`
	WithdrawEvery  int64  `toml:"withdraw_every" comment:"blocks between withdrawals of earnings"`
	Endpoint       string `toml:"endpoint" comment:"API URL tenants call; default http://<api listen>"`
	Ingress        string `toml:"ingress" comment:"ingress base domain[:port] leases are served under; default <gateway base_domain>:<gateway port>"`
}

// ImageConfig tunes the node's image puller.
type ImageConfig struct {
	// Loopback registries always speak plain http; these too.
	InsecureRegistries []string `toml:"insecure_registries" comment:"registries (host:port) reached over plain http; loopback ones always are"`
}

// ChainConfig hosts the microchain in the node (CometBFT in-process).
type ChainConfig struct {
	Enabled         bool     `toml:"enabled" comment:"run a microchain node inside this daemon"`
	ChainID         string   `toml:"chain_id"`
	RPCListen       string   `toml:"rpc_listen" comment:"CometBFT RPC, e.g. 127.0.0.1:26657"`
	P2PListen       string   `toml:"p2p_listen" comment:"CometBFT p2p, e.g. 127.0.0.1:26656"`
	PersistentPeers string   `toml:"persistent_peers" comment:"id@host:port,..."`
	BlockInterval   Duration `toml:"block_interval" comment:"target time between blocks"`
	// Snapshots serve state sync to new nodes (docs/chain.md).
	SnapshotInterval int64                `toml:"snapshot_interval" comment:"take a state-sync snapshot every N blocks (0: never)"`
	SnapshotKeep     int                  `toml:"snapshot_keep" comment:"newest snapshots kept; keep × interval must outlast a joining node's discovery and download"`
	StateSync        ChainStateSyncConfig `toml:"statesync"`
}

// ChainStateSyncConfig makes a node without chain state start from a
// peer's snapshot, verified by CometBFT's light client from a trusted
// block, instead of replaying every block.
type ChainStateSyncConfig struct {
	Enabled     bool     `toml:"enabled" comment:"join from a snapshot when this node has no chain state yet"`
	RPCServers  []string `toml:"rpc_servers" comment:"CometBFT RPC URLs (http://host:port) of nodes to verify headers with"`
	TrustHeight int64    `toml:"trust_height" comment:"height of a block you trust"`
	TrustHash   string   `toml:"trust_hash" comment:"hex hash of that block"`
	TrustPeriod Duration `toml:"trust_period" comment:"how long a verified header stays trusted (under the unbonding period)"`
}

// NodeConfig names the node.
type NodeConfig struct {
	Name string `toml:"name" comment:"human name of this node"`
	// MachinePrefix keeps machine ids of several nodes on one host apart
	// (a devnet's nodes all run leases named by lease ID).
	MachinePrefix string `toml:"machine_prefix" comment:"prefix for this node's machine ids on the host; set when several nodes share a host"`
}

// APIConfig is where the node API listens.
type APIConfig struct {
	Listen string `toml:"listen" comment:"TCP address of the node API (signed requests)"`
	Socket string `toml:"socket" comment:"unix socket for local admin, relative to the home"`
}

// GatewayConfig is the HTTP ingress.
type GatewayConfig struct {
	Listen     string `toml:"listen" comment:"ingress address"`
	BaseDomain string `toml:"base_domain" comment:"spacecores answer at <id>.<base_domain> and /sc/<id>/"`
	TLSCert    string `toml:"tls_cert" comment:"PEM certificate (optional)"`
	TLSKey     string `toml:"tls_key" comment:"PEM key (optional)"`
	// ACME gets certificates for base_domain and <id>.<base_domain> from
	// an ACME CA (TLS-ALPN-01: the listener must be reachable on :443).
	ACME          bool   `toml:"acme" comment:"certificates from ACME (Let's Encrypt by default); needs a public base_domain"`
	ACMEEmail     string `toml:"acme_email" comment:"contact for the CA (optional)"`
	ACMECacheDir  string `toml:"acme_cache_dir" comment:"account key and certificates, relative to the home"`
	ACMEDirectory string `toml:"acme_directory" comment:"ACME directory URL; default Let's Encrypt production"`
}

// MetricsConfig is the Prometheus endpoint.
type MetricsConfig struct {
	Listen string `toml:"listen" comment:"address of /metrics; empty disables it"`
}

// SandboxConfig tunes the sandbox provider.
type SandboxConfig struct {
	Bridge       string `toml:"bridge"`
	Subnet       string `toml:"subnet"`
	CgroupParent string `toml:"cgroup_parent"`
}

// GVisorConfig tunes the gvisor provider (docs/gvisor.md). Its machines
// share the sandbox's bridge and subnet.
type GVisorConfig struct {
	Runsc        string `toml:"runsc" comment:"runsc binary; empty: runsc from PATH"`
	Platform     string `toml:"platform" comment:"auto (systrap if this runsc has it, else ptrace), systrap, ptrace or kvm (used only if a probe container starts on it)"`
	CgroupParent string `toml:"cgroup_parent"`
}

// CapacityConfig is what this node keeps for itself and whether it
// overcommits.
type CapacityConfig struct {
	ReservedCores  float64 `toml:"reserved_cores" comment:"cores kept for the host"`
	ReservedMemory string  `toml:"reserved_memory" comment:"memory kept for the host, e.g. 1GiB"`
	Overcommit     float64 `toml:"overcommit" comment:"1.0 = no overcommit"`
}

// SupervisorConfig tunes restarts.
type SupervisorConfig struct {
	StopGrace   Duration `toml:"stop_grace"`
	BackoffBase Duration `toml:"backoff_base"`
	BackoffMax  Duration `toml:"backoff_max"`
}

// LogConfig selects log level and format.
type LogConfig struct {
	Level  string `toml:"level" comment:"debug|info|warn|error"`
	Format string `toml:"format" comment:"text|json"`
}

// Duration is a time.Duration written as "10s" in TOML.
type Duration struct{ time.Duration }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// DefaultConfig is a working single-machine configuration on loopback.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Version:    ConfigVersion,
		Node:       NodeConfig{Name: host},
		API:        APIConfig{Listen: "127.0.0.1:7740", Socket: "vimana.sock"},
		Gateway:    GatewayConfig{Listen: "127.0.0.1:7780", BaseDomain: "vimana.localhost", ACMECacheDir: "acme"},
		Metrics:    MetricsConfig{Listen: "127.0.0.1:7790"},
		Sandbox:    SandboxConfig{Bridge: "vimana0", Subnet: "10.88.0.0/16", CgroupParent: "/vimana"},
		GVisor:     GVisorConfig{Platform: "auto", CgroupParent: "/vimana-gvisor"},
		Capacity:   CapacityConfig{ReservedCores: 1, ReservedMemory: "1GiB", Overcommit: 1},
		Supervisor: SupervisorConfig{StopGrace: Duration{10 * time.Second}, BackoffBase: Duration{time.Second}, BackoffMax: Duration{time.Minute}},
		Log:        LogConfig{Level: "info", Format: "text"},
		Chain: ChainConfig{ChainID: "vimana-local", RPCListen: "127.0.0.1:26657", P2PListen: "127.0.0.1:26656",
			BlockInterval: Duration{200 * time.Millisecond}, SnapshotInterval: 500, SnapshotKeep: 2,
			StateSync: ChainStateSyncConfig{RPCServers: []string{}, TrustPeriod: Duration{168 * time.Hour}}},
		Provider: ProviderConfig{Region: "local", Stake: "10vis", PriceCPUMilli: 1, PriceMemoryMiB: 1, PriceDiskGiB: 10,
			HeartbeatEvery: 3, WithdrawEvery: 100},
		Storage: StorageConfig{Dir: "pieces", Capacity: "1GiB", PriceMiB: 1, GCEvery: Duration{10 * time.Minute}, PendingTTL: Duration{time.Hour}},
		Image:   ImageConfig{InsecureRegistries: []string{}},
	}
}

var machinePrefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,15}$`)

// Validate checks the config and names the failing section.
func (c Config) Validate() error {
	var errs []error
	bad := func(section, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: config [%s]: %s", hypercore.ErrInvalid, section, fmt.Sprintf(format, a...)))
	}
	if c.Version != ConfigVersion {
		bad("version", "version %d is not supported by this binary (want %d)", c.Version, ConfigVersion)
	}
	for section, addr := range map[string]string{"api": c.API.Listen, "gateway": c.Gateway.Listen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(section, "listen %q: want host:port", addr)
		}
	}
	if c.Node.MachinePrefix != "" && !machinePrefixRE.MatchString(c.Node.MachinePrefix) {
		bad("node", "machine_prefix %q: want 1-16 of [a-z0-9-], starting with [a-z0-9]", c.Node.MachinePrefix)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics", "listen %q: want host:port or empty", c.Metrics.Listen)
		}
	}
	if c.API.Socket == "" || filepath.IsAbs(c.API.Socket) && len(c.API.Socket) > 100 {
		bad("api", "socket %q: want a short path", c.API.Socket)
	}
	if c.Gateway.BaseDomain == "" || strings.ContainsAny(c.Gateway.BaseDomain, "/: ") {
		bad("gateway", "base_domain %q is not a domain", c.Gateway.BaseDomain)
	}
	if (c.Gateway.TLSCert == "") != (c.Gateway.TLSKey == "") {
		bad("gateway", "tls_cert and tls_key go together")
	}
	if c.Gateway.ACME {
		b := c.Gateway.BaseDomain
		switch {
		case c.Gateway.TLSCert != "":
			bad("gateway", "acme and tls_cert/tls_key exclude each other: choose one source of certificates")
		case b == "localhost" || strings.HasSuffix(b, ".localhost") || net.ParseIP(b) != nil || !strings.Contains(b, "."):
			bad("gateway", "acme needs a public DNS base_domain (a CA must reach <id>.%s); %q is loopback, an IP or a single label", b, b)
		case c.Gateway.ACMECacheDir == "":
			bad("gateway", "acme needs acme_cache_dir (certificates must survive restarts: CAs rate-limit re-issuing)")
		}
	}
	if _, n, err := net.ParseCIDR(c.Sandbox.Subnet); err != nil || n.IP.To4() == nil {
		bad("sandbox", "subnet %q: want an IPv4 CIDR", c.Sandbox.Subnet)
	}
	if c.Sandbox.Bridge == "" || len(c.Sandbox.Bridge) > 15 {
		bad("sandbox", "bridge %q: want 1-15 characters", c.Sandbox.Bridge)
	}
	if !strings.HasPrefix(c.Sandbox.CgroupParent, "/") {
		bad("sandbox", "cgroup_parent %q must be absolute", c.Sandbox.CgroupParent)
	}
	switch c.GVisor.Platform {
	case "", "auto", "systrap", "ptrace", "kvm":
	default:
		bad("gvisor", "platform %q: want auto, systrap, ptrace or kvm", c.GVisor.Platform)
	}
	if c.GVisor.CgroupParent != "" && !strings.HasPrefix(c.GVisor.CgroupParent, "/") {
		bad("gvisor", "cgroup_parent %q must be absolute", c.GVisor.CgroupParent)
	}
	if _, err := hac.ParseSize(c.Capacity.ReservedMemory); err != nil {
		bad("capacity", "reserved_memory: %v", err)
	}
	if c.Capacity.ReservedCores < 0 || c.Capacity.Overcommit < 1 {
		bad("capacity", "reserved_cores must be >= 0 and overcommit >= 1")
	}
	if c.Supervisor.BackoffBase.Duration <= 0 || c.Supervisor.BackoffMax.Duration < c.Supervisor.BackoffBase.Duration {
		bad("supervisor", "want 0 < backoff_base <= backoff_max")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log", "level %q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Chain.Enabled {
		for k, addr := range map[string]string{"rpc_listen": c.Chain.RPCListen, "p2p_listen": c.Chain.P2PListen} {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				bad("chain", "%s %q: want host:port", k, addr)
			}
		}
		if c.Chain.ChainID == "" || c.Chain.BlockInterval.Duration <= 0 {
			bad("chain", "chain_id and a positive block_interval are required")
		}
		if c.Chain.SnapshotInterval < 0 || c.Chain.SnapshotKeep < 0 {
			bad("chain", "snapshot_interval and snapshot_keep must not be negative")
		}
		if ss := c.Chain.StateSync; ss.Enabled {
			if h, err := hex.DecodeString(ss.TrustHash); err != nil || len(h) != 32 {
				bad("chain.statesync", "trust_hash %q: want the 64 hex digits of a block hash", ss.TrustHash)
			}
			if len(ss.RPCServers) == 0 || ss.TrustHeight <= 0 || ss.TrustPeriod.Duration <= 0 {
				bad("chain.statesync", "rpc_servers, a positive trust_height and trust_period are required")
			}
		}
	}
	if c.Provider.Enabled {
		if !c.Chain.Enabled && c.Provider.ChainRPC == "" {
			bad("provider", "needs [chain] enabled or chain_rpc")
		}
		if _, err := hac.ParseTokens(c.Provider.Stake); err != nil {
			bad("provider", "stake: %v", err)
		}
		if c.Provider.HeartbeatEvery < 1 || c.Provider.WithdrawEvery < 1 {
			bad("provider", "heartbeat_every and withdraw_every must be at least 1 block")
		}
	}
	if c.Storage.Enabled {
		if !c.Provider.Enabled {
			bad("storage", "needs [provider] enabled: the piece store is offered with the provider's registration")
		}
		if n, err := hac.ParseSize(c.Storage.Capacity); err != nil || n <= 0 {
			bad("storage", "capacity %q: want a positive size such as 10GiB", c.Storage.Capacity)
		}
		if c.Storage.Dir == "" || c.Storage.GCEvery.Duration <= 0 || c.Storage.PendingTTL.Duration <= 0 {
			bad("storage", "dir, gc_every and pending_ttl must be set")
		}
	}
	if c.Storage.Repair && !c.Chain.Enabled && c.Provider.ChainRPC == "" {
		bad("storage", "repair needs [chain] enabled or [provider] chain_rpc")
	}
	for _, r := range c.Image.InsecureRegistries {
		if r == "" || strings.ContainsAny(r, "/ ") {
			bad("image", "insecure_registries: %q: want host[:port]", r)
		}
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log", "format %q: want text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// LoadConfig reads <home>/config.toml strictly (unknown keys are errors,
// with line and column) and validates it.
func LoadConfig(home string) (Config, error) {
	path := filepath.Join(home, ConfigFile)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, fmt.Errorf("%w: no %s in %s: run `vimana node init --home %s` first", hypercore.ErrNotFound, ConfigFile, home, home)
		}
		return Config{}, err
	}
	defer f.Close()
	c := DefaultConfig()
	dec := toml.NewDecoder(f).DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) && len(sm.Errors) > 0 {
			line, col := sm.Errors[0].Position()
			return Config{}, fmt.Errorf("%w: %s:%d:%d: unknown key %s", hypercore.ErrInvalid, path, line, col, strings.Join(sm.Errors[0].Key(), "."))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return Config{}, fmt.Errorf("%w: %s:%d:%d: %v", hypercore.ErrInvalid, path, line, col, de)
		}
		return Config{}, fmt.Errorf("%w: %s: %v", hypercore.ErrInvalid, path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// WriteConfig writes c to <home>/config.toml atomically.
func WriteConfig(home string, c Config) error {
	b, err := toml.Marshal(c)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(home, ConfigFile), b, 0o600)
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
