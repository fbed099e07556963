package objects

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/vistara-labs/vimana/internal/storage"
)

// Config is <home>/store/config.toml (every key optional).
type Config struct {
	Version     int    `toml:"version"`
	Network     string `toml:"network"`      // a registered network: "local" (default)
	LocalStores int    `toml:"local_stores"` // piece directories of the local network (default 6)
	Key         string `toml:"key"`          // wallet key that signs, and whose seed derives the storage keys (default "tenant")
	// Secret is what the storage keys derive from: "wallet" (default: the
	// key's seed) or "passphrase" (argon2id of a passphrase, read from
	// $VIMANA_STORE_PASSPHRASE or PassphraseFile).
	Secret         string `toml:"secret"`
	PassphraseFile string `toml:"passphrase_file"`
	// NetworkOptions are free-form settings for the selected network
	// (e.g. a chain RPC address for a provider network), [network_options].
	NetworkOptions map[string]string `toml:"network_options"`
	// Defaults for new buckets (`store mb` flags override).
	K           int `toml:"k"`
	M           int `toml:"m"`
	SegmentSize int `toml:"segment_size"`
	// AutoRenewWithin turns on the S3 gateway's background renewal (0:
	// off, the default): every AutoRenewEvery it renews the deals (and
	// index blobs) that end within this many blocks (Renewer).
	AutoRenewWithin int64 `toml:"auto_renew_within,omitempty"`
	// AutoRenewEvery is a Go duration ("10m", the default when empty).
	AutoRenewEvery string `toml:"auto_renew_every,omitempty"`
}

// RenewEvery is AutoRenewEvery parsed (DefaultRenewEvery when empty).
func (c Config) RenewEvery() (time.Duration, error) {
	if c.AutoRenewEvery == "" {
		return DefaultRenewEvery, nil
	}
	d, err := time.ParseDuration(c.AutoRenewEvery)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("store config: auto_renew_every %q: want a positive duration such as \"10m\"", c.AutoRenewEvery)
	}
	return d, nil
}

// DefaultConfig is the local network of 6 stores and 4+2 coding with 64 MiB segments.
func DefaultConfig() Config {
	p := storage.DefaultParams()
	return Config{Version: 1, Network: "local", LocalStores: 6, Key: "tenant", K: p.K, M: p.M, SegmentSize: p.SegmentSize}
}

// Params are the default bucket parameters.
func (c Config) Params() storage.Params {
	return storage.Params{SegmentSize: c.SegmentSize, K: c.K, M: c.M}
}

// Validate names the failing key.
func (c Config) Validate() error {
	if c.Version != 1 {
		return fmt.Errorf("store config: version %d: want 1", c.Version)
	}
	if c.Network == "" {
		return fmt.Errorf("store config: network: empty")
	}
	if c.Secret != "" && c.Secret != "wallet" && c.Secret != "passphrase" {
		return fmt.Errorf("store config: secret %q: want \"wallet\" or \"passphrase\"", c.Secret)
	}
	if c.LocalStores < 1 {
		return fmt.Errorf("store config: local_stores %d: want ≥ 1", c.LocalStores)
	}
	if c.AutoRenewWithin < 0 {
		return fmt.Errorf("store config: auto_renew_within %d: want ≥ 0 blocks (0: off)", c.AutoRenewWithin)
	}
	if _, err := c.RenewEvery(); err != nil {
		return err
	}
	if err := c.Params().Validate(); err != nil {
		return fmt.Errorf("store config: k/m/segment_size: %w", err)
	}
	return nil
}

// LoadConfig reads path over the defaults; a missing file is the defaults.
// Unknown keys are refused.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// WriteConfig writes c to path (its directory created), replacing it
// atomically.
func WriteConfig(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := toml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
