package chain

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// helperEnv makes the test binary run one chain node (TestChainHelperProcess)
// until it is killed: home, rpc, p2p and alice's seed, separated by commas.
const helperEnv = "VIMANA_CHAIN_HELPER"

func TestChainHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process for TestCrashRestart")
	}
	f := strings.Split(spec, ",")
	seed, _ := hex.DecodeString(f[3])
	alice, err := wallet.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Config{Home: f[0], ChainID: "vimana-crash-test", RPCListen: f[1], P2PListen: f[2],
		Genesis: app.Genesis{MinFee: 10, Balances: []app.GenesisBalance{{Address: alice.Address(), Amount: 1_000_000}}}})
	if err != nil {
		t.Fatal(err)
	}
	select {} // until SIGKILL
}

// TestCrashRestart SIGKILLs a node process at random moments while it
// produces blocks and restarts it: every committed transfer survives, and
// CometBFT's handshake accepts the app's height and hash each time (it
// refuses to start on an app hash that disagrees with its block store).
func TestCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills CometBFT node processes")
	}
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	alice, _ := wallet.FromSeed(seed)
	bob, _ := wallet.Generate(nil)
	home := filepath.Join(t.TempDir(), "home")
	rpcAddr, p2pAddr := freeAddr(t), freeAddr(t)
	c := &Client{RPC: httpURL(rpcAddr)}
	ctx := context.Background()
	killSeed := uint64(time.Now().UnixNano())
	t.Logf("kill timing seed %d", killSeed)
	r := rand.New(rand.NewPCG(killSeed, 1))

	var sent, lastHeight uint64
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChainHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join([]string{home, rpcAddr, p2pAddr, hex.EncodeToString(seed)}, ","))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killed := false
		t.Cleanup(func() {
			if !killed {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		eventually(t, "the restarted node to make blocks", func() bool {
			h, err := c.Height(ctx)
			return err == nil && uint64(h) >= lastHeight+2
		})
		amount := uint64(1000 + round)
		transfer(t, c, alice, bob.Address(), amount)
		sent += amount
		// Kill somewhere within the next block or two.
		time.Sleep(time.Duration(r.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		killed = true
		h, err := highestStored(home)
		if err != nil {
			t.Fatal(err)
		}
		lastHeight = h
	}

	// Resume in-process and check the state.
	n, err := Start(ctx, Config{Home: home, ChainID: "vimana-crash-test", RPCListen: rpcAddr, P2PListen: p2pAddr})
	if err != nil {
		t.Fatalf("restart after the last kill: %v", err)
	}
	defer n.Stop()
	eventually(t, "blocks after the last restart", func() bool {
		h, err := c.Height(ctx)
		return err == nil && uint64(h) > lastHeight
	})
	acc, err := c.Account(ctx, bob.Address())
	if err != nil || acc.Balance != sent {
		t.Fatalf("bob has %d after crashes, %d was committed (%v)", acc.Balance, sent, err)
	}
}

// highestStored is the app's committed height in a stopped node's home.
func highestStored(home string) (uint64, error) {
	s, err := app.OpenBoltStore(filepath.Join(home, "data", "app.db"))
	if err != nil {
		return 0, err
	}
	defer s.Close()
	_, h, _, err := s.Load()
	return uint64(h), err
}
