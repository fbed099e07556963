package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// DevnetFile records a local devnet inside its directory.
const DevnetFile = "devnet.json"

// Devnet is a local network of vimana node processes on 127.0.0.1.
type Devnet struct {
	ChainID   string       `json:"chain_id"`
	Tenant    string       `json:"tenant"`    // funded tenant address (key "tenant" in <dir>/keys)
	Providers []string     `json:"providers"` // funded provider addresses
	Nodes     []DevnetNode `json:"nodes"`
	// Registry is the devnet's OCI registry process (`vimana registry
	// serve`, plain http on 127.0.0.1).
	Registry *DevnetRegistry `json:"registry,omitempty"`
	// Hello is the digest reference of the hello example's image in
	// Registry, e.g. "127.0.0.1:PORT/hello@sha256:…" (empty when no hello
	// binary was given).
	Hello string `json:"hello,omitempty"`
}

// DevnetOptions shape DevnetUp.
type DevnetOptions struct {
	Nodes int    // 1-16
	Bin   string // the vimana binary the node and registry processes run
	// HelloBinary, when set, is a static build of examples/hello: its
	// image is built and pushed to the devnet registry as hello:latest.
	HelloBinary string
}

// DevnetNode is one node process of a devnet.
type DevnetNode struct {
	Index   int    `json:"index"`
	Home    string `json:"home"`
	Pid     int    `json:"pid"`
	NodeID  string `json:"node_id"`
	RPC     string `json:"rpc"`
	API     string `json:"api"`
	Gateway string `json:"gateway"`
	Log     string `json:"log"`
	// Filled by Status:
	Alive  bool  `json:"alive"`
	Height int64 `json:"height"`
}

// DevnetFunds is each funded account's genesis balance: one million VIS.
const DevnetFunds = 1_000_000 * 1_000_000

// Devnet ports come from devnetPortLow..devnetPortHigh: below the kernel's
// ephemeral range (32768+ by default), so the outgoing connections of the
// nodes already running cannot take a port a later node was promised (seen
// in CI: "metrics: listening: bind: address already in use"), and below
// the 20000-29999 range published spacecore ports use.
const (
	devnetPortLow  = 10000
	devnetPortHigh = 19999
)

var (
	devnetPortsMu sync.Mutex
	devnetPorts   = map[int]bool{} // handed out by this process
)

// freeLoopback returns a 127.0.0.1 address whose port is free now, was not
// handed out before by this process, and lies outside the ephemeral range
// (falling back to a kernel-chosen port if that range reaches down there).
func freeLoopback() (string, error) {
	if lo, _ := ephemeralLow(); lo > devnetPortHigh {
		devnetPortsMu.Lock()
		defer devnetPortsMu.Unlock()
		start := devnetPortLow + mrand.IntN(devnetPortHigh-devnetPortLow+1)
		for i := 0; i <= devnetPortHigh-devnetPortLow; i++ {
			port := devnetPortLow + (start-devnetPortLow+i)%(devnetPortHigh-devnetPortLow+1)
			if devnetPorts[port] {
				continue
			}
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue
			}
			l.Close()
			devnetPorts[port] = true
			return l.Addr().String(), nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// ephemeralLow is the low end of the kernel's ephemeral port range.
func ephemeralLow() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, fmt.Errorf("ip_local_port_range: %q", b)
	}
	return strconv.Atoi(f[0])
}

// DevnetUp creates (or restarts) a devnet of o.Nodes nodes under dir,
// starts its registry (pushing the hello image when o.HelloBinary is
// set), and returns once every node has produced blocks.
func DevnetUp(ctx context.Context, dir string, o DevnetOptions) (*Devnet, error) {
	n, bin := o.Nodes, o.Bin
	if n < 1 || n > 16 {
		return nil, fmt.Errorf("%w: --nodes %d: want 1-16", hypercore.ErrInvalid, n)
	}
	dir, err := filepath.Abs(dir) // homes and the socket link must not depend on the cwd
	if err != nil {
		return nil, err
	}
	d, err := LoadDevnet(dir)
	switch {
	case err == nil:
		d.Status(ctx)
		for _, nd := range d.Nodes {
			if nd.Alive {
				return nil, fmt.Errorf("%w: devnet in %s is running (node %d, pid %d): `vimana devnet down --home %s` first", hypercore.ErrAlreadyExists, dir, nd.Index, nd.Pid, dir)
			}
		}
	case errors.Is(err, hypercore.ErrNotFound):
		if d, err = createDevnet(ctx, dir, n); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if err := d.upRegistry(ctx, dir, bin, o.HelloBinary); err != nil {
		d.Down()
		return nil, err
	}
	for i := range d.Nodes {
		if err := startNode(&d.Nodes[i], bin); err != nil {
			d.Down()
			return nil, err
		}
	}
	if err := d.save(dir); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "vimana.sock")
	_ = os.Remove(sock)
	_ = os.Symlink(filepath.Join(d.Nodes[0].Home, "vimana.sock"), sock)
	deadline := time.Now().Add(90 * time.Second)
	for {
		d.Status(ctx)
		ready := true
		for _, nd := range d.Nodes {
			if !nd.Alive {
				tail := logTail(nd.Log, 15)
				d.Down()
				return nil, fmt.Errorf("devnet node %d exited; see %s; it ended with:\n%s", nd.Index, nd.Log, tail)
			}
			ready = ready && nd.Height >= 2
		}
		if ready {
			return d, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return d, fmt.Errorf("%w: devnet produced no blocks within 90s; see the node logs in %s", hypercore.ErrUnavailable, dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func createDevnet(ctx context.Context, dir string, n int) (*Devnet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ks, err := wallet.OpenKeystore(filepath.Join(dir, "keys"))
	if err != nil {
		return nil, err
	}
	d := &Devnet{ChainID: "vimana-devnet"}
	tb := make([]byte, 2)
	if _, err := rand.Read(tb); err != nil {
		return nil, err
	}
	tag := hex.EncodeToString(tb) // tells this devnet's machines from another's on the host
	var gen app.Genesis
	fund := func(name string) (string, error) {
		k, err := wallet.Generate(rand.Reader)
		if err != nil {
			return "", err
		}
		if err := ks.Save(name, k, nil); err != nil { // devnet keys: empty passphrase
			return "", err
		}
		gen.Balances = append(gen.Balances, app.GenesisBalance{Address: k.Address(), Amount: DevnetFunds})
		return k.Address().String(), nil
	}
	if d.Tenant, err = fund("tenant"); err != nil {
		return nil, err
	}
	var chainHomes []string
	var vals []types.GenesisValidator
	p2p := make([]string, n)
	for i := 0; i < n; i++ {
		home := filepath.Join(dir, fmt.Sprintf("node-%d", i))
		cfg := DefaultConfig()
		cfg.Node.Name = fmt.Sprintf("devnet-%d", i)
		cfg.Node.MachinePrefix = fmt.Sprintf("d%sn%d-", tag, i)
		ports := make([]string, 5)
		for j := range ports {
			if ports[j], err = freeLoopback(); err != nil {
				return nil, err
			}
		}
		cfg.API.Listen, cfg.Gateway.Listen, cfg.Metrics.Listen, cfg.Chain.RPCListen, cfg.Chain.P2PListen = ports[0], ports[1], ports[2], ports[3], ports[4]
		cfg.Chain.Enabled, cfg.Chain.ChainID = true, d.ChainID
		// Node 0 is the devnet's edge (its gateway forwards every lease to
		// its provider); the others are providers, so killing a provider
		// never takes the tenant's URLs down with it.
		cfg.Provider.Enabled = n == 1 || i > 0
		cfg.Provider.HeartbeatEvery = 2
		// Providers hold pieces for storage deals; node 0 repairs them.
		cfg.Storage.Enabled, cfg.Storage.Repair = cfg.Provider.Enabled, i == 0
		if _, err := Init(ctx, home, InitOptions{Config: cfg}); err != nil {
			return nil, err
		}
		// The node key is the provider's account: fund it and keep it in
		// the devnet keystore as provider-<i>.
		nk, err := LoadKey(home)
		if err != nil {
			return nil, err
		}
		wk, err := nk.WalletKey()
		if err != nil {
			return nil, err
		}
		if err := ks.Save(fmt.Sprintf("provider-%d", i), wk, nil); err != nil {
			return nil, err
		}
		gen.Balances = append(gen.Balances, app.GenesisBalance{Address: wk.Address(), Amount: DevnetFunds})
		d.Providers = append(d.Providers, wk.Address().String())
		chome := filepath.Join(home, "chain")
		if err := chain.Init(chain.Config{Home: chome, ChainID: d.ChainID, RPCListen: "tcp://" + ports[3], P2PListen: "tcp://" + ports[4]}); err != nil {
			return nil, err
		}
		id, err := chain.LoadIdentity(chome, cfg.Node.Name)
		if err != nil {
			return nil, err
		}
		chainHomes, vals, p2p[i] = append(chainHomes, chome), append(vals, id.Validator), ports[4]
		d.Nodes = append(d.Nodes, DevnetNode{Index: i, Home: home, NodeID: id.NodeID, RPC: "http://" + ports[3],
			API: "http://" + ports[0], Gateway: "http://" + ports[1], Log: filepath.Join(home, "node.log")})
	}
	// Devnet: a provider is lost after 6 blocks without a heartbeat (it
	// sends one every 2), so a killed provider's leases move within seconds.
	mp := market.DefaultParams()
	mp.Grace = 6
	gen.Market = &mp
	if err := chain.WriteGenesis(chainHomes, d.ChainID, vals, gen); err != nil {
		return nil, err
	}
	for i := range d.Nodes {
		var peers []string
		for j, o := range d.Nodes {
			if j != i {
				peers = append(peers, o.NodeID+"@"+p2p[j])
			}
		}
		cfg, err := LoadConfig(d.Nodes[i].Home)
		if err != nil {
			return nil, err
		}
		cfg.Chain.PersistentPeers = strings.Join(peers, ",")
		if err := WriteConfig(d.Nodes[i].Home, cfg); err != nil {
			return nil, err
		}
	}
	return d, d.save(dir)
}

func startNode(nd *DevnetNode, bin string) error {
	logf, err := os.OpenFile(nd.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--home", nd.Home, "node", "start")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives `devnet up`
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting devnet node %d: %w", nd.Index, err)
	}
	nd.Pid = cmd.Process.Pid
	go cmd.Wait() // reap if it dies while we are still here
	return nil
}

// LoadDevnet reads <dir>/devnet.json.
func LoadDevnet(dir string) (*Devnet, error) {
	b, err := os.ReadFile(filepath.Join(dir, DevnetFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no devnet in %s", hypercore.ErrNotFound, dir)
	}
	if err != nil {
		return nil, err
	}
	var d Devnet
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", hypercore.ErrInvalid, DevnetFile, err)
	}
	return &d, nil
}

func (d *Devnet) save(dir string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, DevnetFile), b, 0o600)
}

// Status fills Alive and Height of every node and Alive of the registry.
func (d *Devnet) Status(ctx context.Context) {
	hc := &http.Client{Timeout: 2 * time.Second}
	if r := d.Registry; r != nil {
		r.Alive = alive(r.Pid)
	}
	for i := range d.Nodes {
		nd := &d.Nodes[i]
		nd.Alive = alive(nd.Pid)
		nd.Height = 0
		if !nd.Alive {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", nd.RPC+"/status", nil)
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		var st struct {
			Result struct {
				SyncInfo struct {
					Height string `json:"latest_block_height"`
				} `json:"sync_info"`
			} `json:"result"`
		}
		if json.NewDecoder(resp.Body).Decode(&st) == nil {
			nd.Height, _ = strconv.ParseInt(st.Result.SyncInfo.Height, 10, 64)
		}
		resp.Body.Close()
	}
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid) }

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

// Down removes every node's spacecores (a devnet is disposable: its
// sandboxes must not outlive it) and stops the nodes and the registry:
// SIGTERM, then SIGKILL after 15 s. Chain state and registry contents are
// kept for the next up.
func (d *Devnet) Down() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Stop the daemons first, so no provider agent restarts a lease while
	// its machine is being removed.
	var pids []int
	for _, nd := range d.Nodes {
		pids = append(pids, nd.Pid)
	}
	stopAll(pids, 15*time.Second)
	if d.Registry != nil { // after the nodes, which may still be pulling
		stopAll([]int{d.Registry.Pid}, 5*time.Second)
	}
	// Then remove every machine of every node, including nodes that were
	// killed earlier and left their machines running.
	for _, nd := range d.Nodes {
		_ = PurgeMachines(ctx, nd.Home)
	}
}

// stopAll sends SIGTERM to the live pids, SIGKILL to those still alive
// after grace, and returns once they are gone (or 5 s after the SIGKILL).
func stopAll(pids []int, grace time.Duration) {
	for _, pid := range pids {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	wait := func(d time.Duration) {
		deadline := time.Now().Add(d)
		for _, pid := range pids {
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	wait(grace)
	for _, pid := range pids {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	wait(5 * time.Second)
}

// PurgeMachines deletes every machine the node in home created, through
// its providers directly (the daemon must not be running).
func PurgeMachines(ctx context.Context, home string) error {
	cfg, err := LoadConfig(home)
	if err != nil {
		return err
	}
	provs, err := providers(home, cfg)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range provs {
		p = hypercore.Prefixed(p, cfg.Node.MachinePrefix)
		ids, err := p.List(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range ids {
			if err := p.Delete(ctx, id); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// logTail returns up to n last lines of the file at path, for errors that
// point at a log which may be gone by the time someone reads it.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
