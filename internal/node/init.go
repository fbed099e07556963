package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/resources"
)

// KeyFile holds the node's ed25519 identity inside the home (mode 0600).
const KeyFile = "node_key.json"

// NodeKey is the node's identity key as stored on disk.
type NodeKey struct {
	PublicKey  string `json:"public_key"`  // hex
	PrivateKey string `json:"private_key"` // hex seed+public (ed25519.PrivateKey)
}

// InitOptions tune Init.
type InitOptions struct {
	Force  bool   // overwrite an existing config (the key is kept)
	Config Config // zero value = DefaultConfig()
}

// InitResult says what Init wrote.
type InitResult struct {
	Home      string `json:"home"`
	Config    string `json:"config"`
	KeyFile   string `json:"key_file"`
	Hardware  string `json:"hardware"`
	PublicKey string `json:"public_key"`
	NewKey    bool   `json:"new_key"`
}

// Init creates a node home: directories, the node key (kept if present),
// config.toml (refused if present unless Force) and hardware.json.
func Init(ctx context.Context, home string, o InitOptions) (InitResult, error) {
	cfg := o.Config
	if cfg.Version == 0 {
		cfg = DefaultConfig()
	}
	if err := cfg.Validate(); err != nil {
		return InitResult{}, err
	}
	for _, d := range []string{home, filepath.Join(home, "images"), filepath.Join(home, "hypercore"), filepath.Join(home, "logs"), filepath.Join(home, "volumes")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return InitResult{}, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	res := InitResult{Home: home, Config: filepath.Join(home, ConfigFile), KeyFile: filepath.Join(home, KeyFile)}
	if _, err := os.Stat(res.Config); err == nil && !o.Force {
		return res, fmt.Errorf("%w: %s exists (use --force to overwrite the config; the node key is always kept)", hypercore.ErrAlreadyExists, res.Config)
	}
	key, err := LoadKey(home)
	switch {
	case errors.Is(err, hypercore.ErrNotFound):
		pub, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return res, gerr
		}
		key = NodeKey{PublicKey: hex.EncodeToString(pub), PrivateKey: hex.EncodeToString(priv)}
		b, _ := json.MarshalIndent(key, "", "  ")
		if err := writeFileAtomic(res.KeyFile, b, 0o600); err != nil {
			return res, err
		}
		res.NewKey = true
	case err != nil:
		return res, err
	}
	res.PublicKey = key.PublicKey
	if err := WriteConfig(home, cfg); err != nil {
		return res, err
	}
	// The hardware report is informative (the daemon discovers again at
	// start); a discovery failure is not fatal to init.
	if rep, err := resources.Discover(ctx); err == nil {
		if b, err := json.MarshalIndent(rep, "", "  "); err == nil {
			res.Hardware = filepath.Join(home, "hardware.json")
			if err := writeFileAtomic(res.Hardware, b, 0o644); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// LoadKey reads and checks the node key.
func LoadKey(home string) (NodeKey, error) {
	b, err := os.ReadFile(filepath.Join(home, KeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return NodeKey{}, fmt.Errorf("%w: no node key in %s", hypercore.ErrNotFound, home)
	}
	if err != nil {
		return NodeKey{}, err
	}
	var k NodeKey
	if err := json.Unmarshal(b, &k); err != nil {
		return NodeKey{}, fmt.Errorf("%w: %s: %v", hypercore.ErrInvalid, KeyFile, err)
	}
	priv, err := hex.DecodeString(k.PrivateKey)
	if err != nil || len(priv) != ed25519.PrivateKeySize || hex.EncodeToString(ed25519.PrivateKey(priv).Public().(ed25519.PublicKey)) != k.PublicKey {
		return NodeKey{}, fmt.Errorf("%w: %s is corrupt (public and private keys do not match)", hypercore.ErrInvalid, KeyFile)
	}
	return k, nil
}
