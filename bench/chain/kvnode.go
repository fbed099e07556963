package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/types"
	"github.com/vistara-labs/vimana/internal/chain"
)

// kvConfig is CometBFT's default config with exactly the overrides
// internal/chain applies to a vimana node (cometConfig), so both chains
// run with the same consensus timeouts and p2p settings.
func kvConfig(home, rpc, p2pAddr, peers string) *cmtcfg.Config {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(home)
	cfg.Moniker = "kvstore"
	cfg.RPC.ListenAddress = rpc
	cfg.P2P.ListenAddress = p2pAddr
	cfg.P2P.AddrBookStrict = false
	cfg.P2P.AllowDuplicateIP = true
	cfg.P2P.PersistentPeers = peers
	cfg.Consensus.TimeoutCommit = 200 * time.Millisecond // chain.DefaultBlockInterval
	cfg.Consensus.TimeoutPropose = time.Second
	cfg.Consensus.PeerGossipSleepDuration = chain.GossipSleep // the same tuning as vimana's nodes
	cfg.P2P.SendRate, cfg.P2P.RecvRate = chain.P2PRate, chain.P2PRate
	return cfg
}

// kvNet is a 4-process CometBFT network running the kvstore example app.
type kvNet struct {
	homes, rpcs, p2ps, ids []string
}

// setupKV creates n homes with keys and one genesis of n validators (power 10 each).
func setupKV(dir string, n int) (*kvNet, error) {
	kn := &kvNet{}
	var vals []types.GenesisValidator
	for i := 0; i < n; i++ {
		home := filepath.Join(dir, fmt.Sprintf("kv-%d", i))
		cmtcfg.EnsureRoot(home)
		rpc, err := freePort()
		if err != nil {
			return nil, err
		}
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg := kvConfig(home, "tcp://"+rpc, "tcp://"+pp, "")
		nk, err := p2p.LoadOrGenNodeKey(cfg.NodeKeyFile())
		if err != nil {
			return nil, err
		}
		pv := privval.NewFilePV(ed25519.GenPrivKey(), cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile())
		pv.Save()
		pub, _ := pv.GetPubKey()
		vals = append(vals, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: fmt.Sprintf("kv-%d", i)})
		kn.homes, kn.rpcs, kn.p2ps, kn.ids = append(kn.homes, home), append(kn.rpcs, rpc), append(kn.p2ps, pp), append(kn.ids, string(nk.ID()))
	}
	gen := &types.GenesisDoc{GenesisTime: time.Now().UTC().Truncate(time.Second), ChainID: "kvstore-bench",
		ConsensusParams: types.DefaultConsensusParams(), Validators: vals}
	if err := gen.ValidateAndComplete(); err != nil {
		return nil, err
	}
	for _, h := range kn.homes {
		if err := gen.SaveAs(filepath.Join(h, "config", "genesis.json")); err != nil {
			return nil, err
		}
	}
	return kn, nil
}

func (kn *kvNet) peers(i int) string {
	var ps []string
	for j := range kn.homes {
		if j != i {
			ps = append(ps, kn.ids[j]+"@"+kn.p2ps[j])
		}
	}
	return strings.Join(ps, ",")
}

// kvNodeMain runs one kvstore node until SIGTERM (the harness re-executes
// itself as "kvnode -home … -rpc … -p2p … -peers …").
func kvNodeMain(args []string) error {
	fs := flag.NewFlagSet("kvnode", flag.ExitOnError)
	home := fs.String("home", "", "CometBFT home")
	rpc := fs.String("rpc", "", "RPC listen address")
	pp := fs.String("p2p", "", "P2P listen address")
	peers := fs.String("peers", "", "persistent peers")
	fs.Parse(args)
	cfg := kvConfig(*home, *rpc, *pp, *peers)
	if err := cfg.ValidateBasic(); err != nil {
		return err
	}
	nk, err := p2p.LoadNodeKey(cfg.NodeKeyFile())
	if err != nil {
		return err
	}
	pv := privval.LoadFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile())
	app := kvstore.NewPersistentApplication(filepath.Join(*home, "data", "kvstore"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	n, err := cmtnode.NewNode(ctx, cfg, pv, nk, proxy.NewLocalClientCreator(app),
		cmtnode.DefaultGenesisDocProviderFunc(cfg), cmtcfg.DefaultDBProvider,
		cmtnode.DefaultMetricsProvider(cfg.Instrumentation), cmtlog.NewNopLogger())
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	n.Stop()
	n.Wait()
	return app.Close()
}
