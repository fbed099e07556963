package chain

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"

	"github.com/vistara-labs/vimana/internal/chain/app"
)

// Identity is what other nodes need to know about an initialised home.
type Identity struct {
	NodeID    string // p2p node id
	Validator types.GenesisValidator
}

// LoadIdentity reads the node and validator keys Init wrote under home.
func LoadIdentity(home, name string) (Identity, error) {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(home)
	nk, err := p2p.LoadNodeKey(cfg.NodeKeyFile())
	if err != nil {
		return Identity{}, fmt.Errorf("node key in %s: %w", home, err)
	}
	pv := privval.LoadFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile())
	pub, err := pv.GetPubKey()
	if err != nil {
		return Identity{}, err
	}
	return Identity{NodeID: string(nk.ID()), Validator: types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: name}}, nil
}

// WriteGenesis writes one genesis (these validators, this app state) into
// every home, replacing the single-validator genesis Init made: a network
// of several validators starts from identical files.
func WriteGenesis(homes []string, chainID string, validators []types.GenesisValidator, g app.Genesis) error {
	appState, err := json.Marshal(g)
	if err != nil {
		return err
	}
	gen := &types.GenesisDoc{
		GenesisTime:     time.Now().UTC().Truncate(time.Second), // network setup, not consensus code
		ChainID:         chainID,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators:      validators,
		AppState:        appState,
	}
	if err := gen.ValidateAndComplete(); err != nil {
		return fmt.Errorf("genesis: %v: %w", err, app.ErrInvalid)
	}
	for _, h := range homes {
		if err := gen.SaveAs(filepath.Join(h, "config", "genesis.json")); err != nil {
			return fmt.Errorf("genesis in %s: %w", h, err)
		}
	}
	return nil
}
