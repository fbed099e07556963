package node

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vistara-labs/vimana/internal/api"
	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/provider"
	"github.com/vistara-labs/vimana/internal/resources"
	"github.com/vistara-labs/vimana/internal/spacecore"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// AuthorizedKeysFile lists, one hex ed25519 public key per line, who may
// use the TCP API (until the microchain's wallets own leases).
const AuthorizedKeysFile = "authorized_keys"

// Run is `vimana node start`: it loads the home, starts the supervisor,
// the API (TCP and unix socket), the gateway and the metrics endpoint in
// that order, and stops them in reverse when ctx ends. Spacecores keep
// running across a daemon stop or crash and are re-adopted at the next
// start. ready, when set, is called once everything listens.
func Run(ctx context.Context, home string, log *slog.Logger, ready func(Endpoints)) error {
	cfg, err := LoadConfig(home)
	if err != nil {
		return err
	}
	key, err := LoadKey(home)
	if err != nil {
		return err
	}
	unlock, err := lockHome(home)
	if err != nil {
		return err
	}
	defer unlock()

	provs, err := providers(home, cfg)
	if err != nil {
		return err
	}
	for iso, p := range provs {
		provs[iso] = hypercore.Prefixed(p, cfg.Node.MachinePrefix)
	}
	store, err := image.Open(filepath.Join(home, "images"))
	if err != nil {
		return err
	}
	rep, err := resources.Discover(ctx)
	if err != nil {
		return fmt.Errorf("hardware discovery: %w", err)
	}
	policy := resources.DefaultPolicy()
	policy.Reserved.MilliCPU = int64(cfg.Capacity.ReservedCores * 1000)
	if mem, err := hac.ParseSize(cfg.Capacity.ReservedMemory); err == nil {
		policy.Reserved.MemoryBytes = mem
	} else {
		return fmt.Errorf("%w: config [capacity]: reserved_memory: %v", hypercore.ErrInvalid, err)
	}
	policy.CPUOvercommit, policy.MemoryOvercommit, policy.DiskOvercommit = cfg.Capacity.Overcommit, cfg.Capacity.Overcommit, cfg.Capacity.Overcommit
	ledger, err := resources.NewLedger(rep.Capacity(), policy)
	if err != nil {
		return fmt.Errorf("config [capacity]: %w", err)
	}

	if cfg.Chain.Enabled {
		cn, err := chain.Start(ctx, chain.Config{
			Home: filepath.Join(home, "chain"), ChainID: cfg.Chain.ChainID,
			RPCListen: "tcp://" + cfg.Chain.RPCListen, P2PListen: "tcp://" + cfg.Chain.P2PListen,
			PersistentPeers: cfg.Chain.PersistentPeers, BlockInterval: cfg.Chain.BlockInterval.Duration,
			SnapshotInterval: cfg.Chain.SnapshotInterval, SnapshotKeep: cfg.Chain.SnapshotKeep,
			StateSync: chainStateSync(cfg.Chain.StateSync),
		})
		if err != nil {
			return fmt.Errorf("microchain: %w", err)
		}
		defer cn.Stop()
		log.Info("microchain node started", "chain_id", cfg.Chain.ChainID, "rpc", cfg.Chain.RPCListen)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerCapacity(reg, ledger)
	sup, err := spacecore.Open(ctx, spacecore.Options{
		DBPath: filepath.Join(home, "spacecore.db"), LogDir: filepath.Join(home, "logs"),
		Providers: provs, Resolver: imageResolver{store: store, insecure: cfg.Image.InsecureRegistries}, Admitter: ledger,
		Backoff:   spacecore.Backoff{Base: cfg.Supervisor.BackoffBase.Duration, Max: cfg.Supervisor.BackoffMax.Duration},
		StopGrace: cfg.Supervisor.StopGrace.Duration, Registry: reg, Logger: log,
	})
	if err != nil {
		return err
	}
	defer sup.Close()

	var leases *leaseRoutes
	var agent *provider.Agent
	var storageSide *storageNode
	if cfg.Chain.Enabled || cfg.Provider.ChainRPC != "" {
		wk, err := key.WalletKey()
		if err != nil {
			return err
		}
		cc := &chain.Client{RPC: chainRPC(cfg)}
		leases = &leaseRoutes{c: cc, self: wk.Address()}
		// One signer for the node key: the agent, the auditor and the
		// repair worker share its nonce.
		signer := &chain.Signer{C: cc, Key: wk}
		if cfg.Provider.Enabled {
			if agent, err = newProviderAgent(ctx, home, cfg, key, &rep, ledger, provs, sup, signer, log); err != nil {
				return err
			}
		}
		if cfg.Storage.Enabled || cfg.Storage.Repair {
			if storageSide, err = newStorageNode(home, cfg, wk, signer, reg, log); err != nil {
				return err
			}
		}
	}
	admin := authorizer(home, key.PublicKey)

	ep := Endpoints{API: "http://" + cfg.API.Listen, Socket: filepath.Join(home, cfg.API.Socket)}
	deps := api.Deps{
		Supervisor:    sup,
		URLs:          func(id string) []string { return gatewayURLs(cfg, id) },
		Hardware:      func(ctx context.Context) (any, error) { return resources.Discover(ctx) },
		NodePublicKey: key.PublicKey,
		// Tenants of leases running here may use their own spacecores
		// (logs, exec, stats); only admins may create.
		Authorized: func(k string) bool { return admin(k) || ownsLease(sup, k) || (agent != nil && agent.IsTenant(k)) },
		MayCreate:  admin,
	}
	if agent != nil {
		deps.Leases = agent
	}
	// Piece requests bypass the API latency histogram: it is labelled by
	// path, and every piece id would be a new series.
	apiHandler := storageSide.mount(withAPIMetrics(reg, api.Handler(deps, false)))
	gw := newGateway(cfg, sup, leases, reg, log)
	gwTLS, err := gatewayACME(home, cfg, gw)
	if err != nil {
		return err
	}
	servers := []*server{
		{name: "api", addr: cfg.API.Listen, handler: apiHandler},
		{name: "api-socket", unix: ep.Socket, handler: withDebug(api.Handler(deps, true))},
		{name: "gateway", addr: cfg.Gateway.Listen, handler: gw, certFile: cfg.Gateway.TLSCert, keyFile: cfg.Gateway.TLSKey, tlsConfig: gwTLS},
	}
	if cfg.Metrics.Listen != "" {
		servers = append(servers, &server{name: "metrics", addr: cfg.Metrics.Listen, handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
		ep.Metrics = "http://" + cfg.Metrics.Listen + "/metrics"
	}
	ep.Gateway = "http://" + cfg.Gateway.Listen
	if cfg.Gateway.TLSCert != "" {
		ep.Gateway = "https://" + cfg.Gateway.Listen
	}
	for _, s := range servers {
		if err := s.listen(); err != nil {
			for _, o := range servers {
				o.close()
			}
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sup.Run(gctx) })
	if agent != nil {
		g.Go(func() error { return agent.Run(gctx) })
		log.Info("provider agent started", "address", agent.Address())
	}
	if storageSide != nil {
		g.Go(func() error { return storageSide.run(gctx) })
		log.Info("storage started", "pieces", storageSide.store != nil, "repair", storageSide.worker != nil)
	}
	for _, s := range servers {
		g.Go(func() error { return s.serve(gctx) })
	}
	log.Info("node started", "home", home, "api", ep.API, "socket", ep.Socket, "gateway", ep.Gateway, "metrics", ep.Metrics, "node_key", key.PublicKey)
	if ready != nil {
		ready(ep)
	}
	err = g.Wait()
	log.Info("node stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Endpoints are where a running node listens.
type Endpoints struct {
	API     string `json:"api"`
	Socket  string `json:"socket"`
	Gateway string `json:"gateway"`
	Metrics string `json:"metrics,omitempty"`
}

func gatewayURLs(cfg Config, id string) []string {
	_, port, _ := net.SplitHostPort(cfg.Gateway.Listen)
	host, _, _ := net.SplitHostPort(cfg.Gateway.Listen)
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if cfg.Gateway.TLSCert != "" {
		scheme = "https"
	}
	return []string{
		fmt.Sprintf("%s://%s.%s:%s/", scheme, id, cfg.Gateway.BaseDomain, port),
		fmt.Sprintf("%s://%s:%s/sc/%s/", scheme, host, port, id),
	}
}

// ownsLease reports whether key (hex) owns a lease spacecore on this node;
// the owner came from the lease on the chain.
func ownsLease(sup *spacecore.Supervisor, key string) bool {
	for _, r := range sup.List(spacecore.Filter{Owner: key}) {
		if provider.IsLease(r) {
			return true
		}
	}
	return false
}

// authorizer accepts the node's own key and the keys in authorized_keys
// (re-read on every call so edits need no restart).
func authorizer(home, nodeKey string) func(string) bool {
	return func(k string) bool {
		if k == nodeKey {
			return true
		}
		f, err := os.Open(filepath.Join(home, AuthorizedKeysFile))
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line != "" && !strings.HasPrefix(line, "#") && strings.EqualFold(strings.Fields(line)[0], k) {
				return true
			}
		}
		return false
	}
}

// NodePrivateKey returns the node key's private half (for clients that
// sign as the node, e.g. the local CLI over TCP).
func NodePrivateKey(home string) (ed25519.PrivateKey, error) {
	k, err := LoadKey(home)
	if err != nil {
		return nil, err
	}
	b, _ := hex.DecodeString(k.PrivateKey)
	return ed25519.PrivateKey(b), nil
}

// lockHome makes sure one daemon runs per home.
func lockHome(home string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(home, "daemon.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: another vimana node is running with home %s", hypercore.ErrAlreadyExists, home)
	}
	return func() { f.Close() }, nil
}

// server is one listener of the daemon.
type server struct {
	name, addr, unix  string
	certFile, keyFile string      // TLS when both are set
	tlsConfig         *tls.Config // TLS from this config (ACME) otherwise
	handler           http.Handler
	ln                net.Listener
	srv               *http.Server
}

func (s *server) listen() error {
	var err error
	if s.unix != "" {
		_ = os.Remove(s.unix) // a stale socket from a crash
		s.ln, err = net.Listen("unix", s.unix)
		if err == nil {
			err = os.Chmod(s.unix, 0o600) // local admin only
		}
	} else {
		s.ln, err = net.Listen("tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("%s: listening: %w", s.name, err)
	}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	// HTTP/1.1 for JSON and connect clients, cleartext HTTP/2 for gRPC.
	s.srv.Protocols = new(http.Protocols)
	s.srv.Protocols.SetHTTP1(true)
	s.srv.Protocols.SetUnencryptedHTTP2(true)
	return nil
}

func (s *server) serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if s.certFile != "" || s.tlsConfig != nil {
			s.srv.TLSConfig = s.tlsConfig
			errc <- s.srv.ServeTLS(s.ln, s.certFile, s.keyFile)
			return
		}
		errc <- s.srv.Serve(s.ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", s.name, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(sctx)
		if s.unix != "" {
			_ = os.Remove(s.unix)
		}
		return nil
	}
}

func (s *server) close() {
	if s.ln != nil {
		s.ln.Close()
	}
}

// chainStateSync is the chain's state sync setting, nil when disabled.
func chainStateSync(c ChainStateSyncConfig) *chain.StateSync {
	if !c.Enabled {
		return nil
	}
	return &chain.StateSync{RPCServers: c.RPCServers, TrustHeight: c.TrustHeight, TrustHash: c.TrustHash, TrustPeriod: c.TrustPeriod.Duration}
}

// withDebug adds Go's profiling endpoints under /debug/pprof/ to the local
// admin socket only (mode 0600): `curl --unix-socket HOME/vimana.sock
// http://x/debug/pprof/profile?seconds=30 > cpu.pprof`. They never appear
// on the TCP API.
func withDebug(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
