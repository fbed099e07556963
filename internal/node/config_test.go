package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	home := t.TempDir()
	c := DefaultConfig()
	c.Gateway.BaseDomain = "example.test"
	if err := WriteConfig(home, c); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip:\n%+v\n%+v", got, c)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]string{
		"unknown key":  "version = 1\n[gateway]\nbase_domian = \"x\"\n",
		"bad type":     "version = 1\n[api]\nlisten = 7\n",
		"bad version":  "version = 99\n",
		"bad section":  "version = 1\n[sandbox]\nsubnet = \"nope\"\n",
		"bad duration": "version = 1\n[supervisor]\nstop_grace = \"soon\"\n",
		"bad statesync": "version = 1\n[chain]\nenabled = true\n[chain.statesync]\nenabled = true\n" +
			"rpc_servers = [\"http://127.0.0.1:26657\"]\ntrust_height = 1\ntrust_hash = \"zz\"\n",
	}
	want := map[string]string{
		"unknown key":   "config.toml:3:1: unknown key gateway.base_domian",
		"bad type":      "config.toml:3:",
		"bad version":   "config [version]",
		"bad section":   "config [sandbox]: subnet",
		"bad duration":  "config.toml:3:",
		"bad statesync": "config [chain.statesync]: trust_hash",
	}
	for name, body := range cases {
		home := t.TempDir()
		os.WriteFile(filepath.Join(home, ConfigFile), []byte(body), 0o600)
		_, err := LoadConfig(home)
		if !errors.Is(err, hypercore.ErrInvalid) || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: err = %v, want ErrInvalid containing %q", name, err, want[name])
		}
	}
	if _, err := LoadConfig(t.TempDir()); !errors.Is(err, hypercore.ErrNotFound) {
		t.Errorf("missing config: %v", err)
	}
}

func TestInit(t *testing.T) {
	home := filepath.Join(t.TempDir(), "node")
	res, err := Init(context.Background(), home, InitOptions{})
	if err != nil || !res.NewKey || res.PublicKey == "" {
		t.Fatalf("Init = %+v, %v", res, err)
	}
	if fi, err := os.Stat(res.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if _, err := LoadConfig(home); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(res.Hardware); res.Hardware == "" || err != nil {
		t.Errorf("no hardware report: %q %v", res.Hardware, err)
	}
	if _, err := Init(context.Background(), home, InitOptions{}); !errors.Is(err, hypercore.ErrAlreadyExists) {
		t.Fatalf("second Init: %v, want ErrAlreadyExists", err)
	}
	again, err := Init(context.Background(), home, InitOptions{Force: true})
	if err != nil || again.NewKey || again.PublicKey != res.PublicKey {
		t.Fatalf("forced Init must keep the key: %+v, %v", again, err)
	}
	// A corrupt key is detected, not silently replaced.
	os.WriteFile(res.KeyFile, []byte(`{"public_key":"00","private_key":"11"}`), 0o600)
	if _, err := LoadKey(home); !errors.Is(err, hypercore.ErrInvalid) {
		t.Fatalf("corrupt key: %v", err)
	}
}
