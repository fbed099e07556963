package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/types"

	"github.com/vistara-labs/vimana/internal/chain/app"
)

// Config says where and how to run one node.
type Config struct {
	Home          string        // CometBFT home: config/ and data/ live here
	ChainID       string        // used only when creating genesis
	Genesis       app.Genesis   // app_state, used only when creating genesis
	RPCListen     string        // e.g. tcp://127.0.0.1:26657
	P2PListen     string        // e.g. tcp://127.0.0.1:26656
	BlockInterval time.Duration // CometBFT timeout_commit; 0 means 200 ms
	// PersistentPeers is CometBFT's "id@host:port,..." list.
	PersistentPeers string
	Logger          cmtlog.Logger // nil discards CometBFT's logs

	// SnapshotInterval makes the node take a state-sync snapshot after
	// every height divisible by it (0: none) into <home>/data/snapshots,
	// keeping the newest SnapshotKeep (0 means 2).
	SnapshotInterval int64
	SnapshotKeep     int
	// StateSync, when set, makes a node without state start from a
	// peer's snapshot instead of replaying every block (docs/chain.md).
	StateSync *StateSync
}

// StateSync says how a fresh node finds and checks a snapshot: CometBFT's
// light client verifies headers from the trusted one on through
// RPCServers, and the restored state must hash to the app hash of the
// snapshot height's verified header.
type StateSync struct {
	RPCServers  []string      // CometBFT RPC URLs of nodes to verify headers with; one is used twice
	TrustHeight int64         // a height whose block hash is known
	TrustHash   string        // hex block hash at TrustHeight
	TrustPeriod time.Duration // 0 means 168h
}

// DefaultBlockInterval gives blocks about every 200 ms on one validator.
const DefaultBlockInterval = 200 * time.Millisecond

// Consensus gossip tuning applied to every node (CometBFT's defaults are
// 100 ms and 5 MB/s per connection).
const (
	GossipSleep = 10 * time.Millisecond
	P2PRate     = 50 << 20 // bytes per second per peer connection
)

// Node is a running CometBFT node with the Vistara app.
type Node struct {
	cmt   *cmtnode.Node
	app   *app.App
	store *app.BoltStore
	cfg   *cmtcfg.Config
}

func (c *Config) cometConfig() (*cmtcfg.Config, error) {
	if c.Home == "" || c.RPCListen == "" || c.P2PListen == "" {
		return nil, fmt.Errorf("chain config: home, rpc and p2p listen addresses are required: %w", app.ErrInvalid)
	}
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(c.Home)
	cfg.Moniker = "vimana"
	cfg.RPC.ListenAddress = c.RPCListen
	cfg.P2P.ListenAddress = c.P2PListen
	cfg.P2P.AddrBookStrict = false // loopback peers in devnets
	cfg.P2P.AllowDuplicateIP = true
	cfg.P2P.PersistentPeers = c.PersistentPeers
	cfg.Consensus.TimeoutCommit = c.BlockInterval
	if cfg.Consensus.TimeoutCommit == 0 {
		cfg.Consensus.TimeoutCommit = DefaultBlockInterval
	}
	cfg.Consensus.TimeoutPropose = time.Second
	// Loopback and LAN devnets: CometBFT's defaults sleep 100 ms between
	// gossip rounds when a peer has nothing new and cap each connection at
	// 5 MB/s, which together put ~250 ms of consensus latency on top of
	// timeout_commit. See docs/chain.md.
	cfg.Consensus.PeerGossipSleepDuration = GossipSleep
	cfg.P2P.SendRate, cfg.P2P.RecvRate = P2PRate, P2PRate
	if ss := c.StateSync; ss != nil {
		cfg.StateSync.Enable = true
		cfg.StateSync.RPCServers = ss.RPCServers
		if len(ss.RPCServers) == 1 {
			// CometBFT wants a primary and a witness.
			cfg.StateSync.RPCServers = []string{ss.RPCServers[0], ss.RPCServers[0]}
		}
		cfg.StateSync.TrustHeight, cfg.StateSync.TrustHash = ss.TrustHeight, ss.TrustHash
		if ss.TrustPeriod > 0 {
			cfg.StateSync.TrustPeriod = ss.TrustPeriod
		}
		cfg.StateSync.DiscoveryTime = 5 * time.Second // the minimum; peers are usually configured
	}
	if err := cfg.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("chain config: %v: %w", err, app.ErrInvalid)
	}
	return cfg, nil
}

// Init creates the home directory, node and validator keys, and a genesis
// with this node as the only validator, keeping whatever already exists.
func Init(c Config) error {
	cfg, err := c.cometConfig()
	if err != nil {
		return err
	}
	cmtcfg.EnsureRoot(c.Home)
	cmtcfg.WriteConfigFile(filepath.Join(c.Home, "config", "config.toml"), cfg)
	if _, err := p2p.LoadOrGenNodeKey(cfg.NodeKeyFile()); err != nil {
		return fmt.Errorf("node key: %w", err)
	}
	pv, err := privval.LoadOrGenFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile(),
		func() (crypto.PrivKey, error) { return ed25519.GenPrivKey(), nil })
	if err != nil {
		return fmt.Errorf("validator key: %w", err)
	}
	if _, err := os.Stat(cfg.GenesisFile()); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("genesis: %w", err)
	}
	pub, err := pv.GetPubKey()
	if err != nil {
		return fmt.Errorf("validator key: %w", err)
	}
	appState, err := json.Marshal(c.Genesis)
	if err != nil {
		return fmt.Errorf("genesis app_state: %w", err)
	}
	gen := &types.GenesisDoc{
		GenesisTime:     time.Now().UTC(), // node setup, not consensus code
		ChainID:         c.ChainID,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators:      []types.GenesisValidator{{Address: pub.Address(), PubKey: pub, Power: 10, Name: "validator-0"}},
		AppState:        appState,
	}
	if err := gen.ValidateAndComplete(); err != nil {
		return fmt.Errorf("genesis: %v: %w", err, app.ErrInvalid)
	}
	if err := gen.SaveAs(cfg.GenesisFile()); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	return nil
}

// Start initialises the home if needed and starts the node. The returned
// node runs until Stop.
func Start(ctx context.Context, c Config) (*Node, error) {
	if err := Init(c); err != nil {
		return nil, err
	}
	cfg, err := c.cometConfig()
	if err != nil {
		return nil, err
	}
	logger := c.Logger
	if logger == nil {
		logger = cmtlog.NewNopLogger()
	}
	nodeKey, err := p2p.LoadOrGenNodeKey(cfg.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	pv, err := privval.LoadOrGenFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile(), nil)
	if err != nil {
		return nil, fmt.Errorf("validator key: %w", err)
	}
	store, err := app.OpenBoltStore(filepath.Join(cfg.DBDir(), "app.db"))
	if err != nil {
		return nil, err
	}
	// Snapshots are served whatever the interval: ones taken earlier stay
	// useful to peers.
	store.SetSnapshots(&app.Snapshots{Dir: filepath.Join(cfg.DBDir(), "snapshots"), Interval: c.SnapshotInterval, Keep: c.SnapshotKeep})
	a, err := app.New(store)
	if err != nil {
		store.Close()
		return nil, err
	}
	cmt, err := cmtnode.NewNode(ctx, cfg, pv, nodeKey, proxy.NewLocalClientCreator(a),
		cmtnode.DefaultGenesisDocProviderFunc(cfg), cmtcfg.DefaultDBProvider,
		cmtnode.DefaultMetricsProvider(cfg.Instrumentation), logger)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("creating chain node: %w", err)
	}
	if err := cmt.Start(); err != nil {
		store.Close()
		return nil, fmt.Errorf("starting chain node: %w", err)
	}
	return &Node{cmt: cmt, app: a, store: store, cfg: cfg}, nil
}

// RPCAddress is the CometBFT RPC listen address (tcp://host:port).
func (n *Node) RPCAddress() string { return n.cfg.RPC.ListenAddress }

// App is the node's ABCI application.
func (n *Node) App() *app.App { return n.app }

// Stop stops CometBFT, waits for it, and closes the app's state file.
func (n *Node) Stop() error {
	err := n.cmt.Stop()
	n.cmt.Wait()
	return errors.Join(err, n.store.Close())
}
