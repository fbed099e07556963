package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/node"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func devnetStatus(t *testing.T, bin, dir string) node.Devnet {
	t.Helper()
	out, err := exec.Command(bin, "devnet", "status", "--home", dir, "-o", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("devnet status: %v\n%s", err, out)
	}
	var d node.Devnet
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("devnet status -o json: %v\n%s", err, out)
	}
	return d
}

// waitHeights waits until every listed node passes height h.
func waitHeights(t *testing.T, bin, dir string, nodes []int, h int64) node.Devnet {
	t.Helper()
	var d node.Devnet
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		d = devnetStatus(t, bin, dir)
		ok := true
		for _, i := range nodes {
			ok = ok && d.Nodes[i].Alive && d.Nodes[i].Height > h
		}
		if ok {
			return d
		}
	}
	t.Fatalf("nodes %v never passed height %d: %+v", nodes, h, d.Nodes)
	return d
}

// TestDevnet: `devnet up --nodes 4` starts 4 separate node processes that
// produce blocks; SIGKILL of one validator does not stop the other three;
// `devnet down` stops them all.
func TestDevnet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("devnet nodes run the sandbox supervisor: needs root; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("starts 4 node processes; skipped with -short")
	}
	bin := buildVimana(t)
	dir := filepath.Join(t.TempDir(), "devnet")
	out, err := exec.Command(bin, "devnet", "up", "--nodes", "4", "--home", dir).CombinedOutput()
	t.Cleanup(func() { exec.Command(bin, "devnet", "down", "--home", dir).Run() })
	if err != nil {
		t.Fatalf("devnet up: %v\n%s", err, out)
	}
	d := devnetStatus(t, bin, dir)
	if len(d.Nodes) != 4 || d.Tenant == "" || len(d.Providers) != 4 {
		t.Fatalf("devnet = %+v", d)
	}
	pids := map[int]bool{}
	for _, n := range d.Nodes {
		if !n.Alive || n.Height < 2 || pids[n.Pid] {
			t.Fatalf("node %d: %+v", n.Index, n)
		}
		pids[n.Pid] = true
	}
	// Blocks keep coming on every node.
	d = waitHeights(t, bin, dir, []int{0, 1, 2, 3}, d.Nodes[0].Height+3)
	// A CLI transfer from the funded tenant, read back through another
	// node's RPC once committed.
	if out, err := exec.Command(bin, "--home", dir, "wallet", "send", "tenant", "provider-0", "2.5vis").CombinedOutput(); err != nil {
		t.Fatalf("wallet send: %v\n%s", err, out)
	}
	var bal struct {
		Balance uint64 `json:"balance_uvis"`
		Nonce   uint64 `json:"nonce"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command(bin, "--home", dir, "wallet", "balance", "provider-0", "--rpc", d.Nodes[2].RPC, "-o", "json").CombinedOutput()
		if err != nil {
			t.Fatalf("wallet balance: %v\n%s", err, out)
		}
		json.Unmarshal(out, &bal)
		if bal.Balance == node.DevnetFunds+2_500_000 || time.Now().After(deadline) {
			break
		}
	}
	if bal.Balance != node.DevnetFunds+2_500_000 {
		t.Fatalf("provider-0 (node 0: not a provider) balance on node 2 = %d, want %d", bal.Balance, node.DevnetFunds+2_500_000)
	}
	// A light-client-verified query: the proof leads to the app hash of a
	// header the light client verified against the other nodes.
	var proved struct {
		Balance  uint64 `json:"balance_uvis"`
		Verified bool   `json:"verified"`
		Header   int64  `json:"header"`
	}
	if out, err := exec.Command(bin, "--home", dir, "wallet", "balance", "provider-0", "--prove", "-o", "json").CombinedOutput(); err != nil {
		t.Fatalf("balance --prove: %v\n%s", err, out)
	} else if err := json.Unmarshal(out, &proved); err != nil || !proved.Verified || proved.Balance != bal.Balance || proved.Header < 2 {
		t.Fatalf("balance --prove: %+v %v\n%s", proved, err, out)
	}
	// Absent accounts are proved absent (balance 0, verified).
	if out, err := exec.Command(bin, "--home", dir, "wallet", "new", "ghost").CombinedOutput(); err != nil {
		t.Fatalf("wallet new: %v\n%s", err, out)
	}
	proved.Verified = false
	if out, err := exec.Command(bin, "--home", dir, "wallet", "balance", "ghost", "--prove", "-o", "json").CombinedOutput(); err != nil {
		t.Fatalf("absent account --prove: %v\n%s", err, out)
	} else if err := json.Unmarshal(out, &proved); err != nil || !proved.Verified || proved.Balance != 0 {
		t.Fatalf("absent account --prove: %+v %v\n%s", proved, err, out)
	}
	// Staking: 1 VIS to a fresh consensus key adds a validator of power 1
	// to CometBFT's set (4×10 others keep the chain live).
	fresh, _ := wallet.Generate(nil)
	if out, err := exec.Command(bin, "--home", dir, "stake", hex.EncodeToString(fresh.PubKey()), "1vis").CombinedOutput(); err != nil {
		t.Fatalf("stake: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := exec.Command(bin, "--home", dir, "validators", "-o", "json").CombinedOutput()
		if strings.Contains(string(out), strings.ToUpper(hex.EncodeToString(fresh.PubKey()))) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staked validator not in the set: %s", out)
		}
	}
	// Sending more than the balance is refused with a reason.
	if out, err := exec.Command(bin, "--home", dir, "wallet", "send", "tenant", "provider-1", "99999999vis").CombinedOutput(); err == nil || !strings.Contains(string(out), "uvis") {
		t.Errorf("overdraft: %v\n%s", err, out)
	}
	// SIGKILL one of four validators: the other three still hold more
	// than 2/3 of the power and keep producing blocks.
	syscall.Kill(d.Nodes[3].Pid, syscall.SIGKILL)
	h := d.Nodes[0].Height
	d = waitHeights(t, bin, dir, []int{0, 1, 2}, h+5)
	if d.Nodes[3].Alive {
		t.Errorf("killed node 3 still reported alive")
	}
	// Restart node 3: it catches up and agrees on the app hash.
	restart := func(i int) {
		logf, _ := os.OpenFile(filepath.Join(d.Nodes[i].Home, "node.log"), os.O_APPEND|os.O_WRONLY, 0o600)
		cmd := exec.Command(bin, "--home", d.Nodes[i].Home, "node", "start")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		go cmd.Wait()
		d.Nodes[i].Pid = cmd.Process.Pid
	}
	restart(3)
	h = waitHeights(t, bin, dir, []int{0, 1, 2}, 0).Nodes[0].Height
	for deadline := time.Now().Add(60 * time.Second); appHash(t, d.Nodes[3].RPC, h) == ""; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("restarted node 3 never reached height %d", h)
		}
	}
	for i := 0; i < 4; i++ {
		if got, want := appHash(t, d.Nodes[i].RPC, h), appHash(t, d.Nodes[0].RPC, h); got != want {
			t.Errorf("node %d app hash at %d = %s, node 0 has %s", i, h, got, want)
		}
	}
	// Kill 2 of 4: the chain halts safely (no blocks without 2/3 of the
	// power); it resumes when one returns.
	syscall.Kill(d.Nodes[2].Pid, syscall.SIGKILL)
	syscall.Kill(d.Nodes[3].Pid, syscall.SIGKILL)
	time.Sleep(1500 * time.Millisecond) // let in-flight rounds finish
	stalled := rpcHeight(t, d.Nodes[0].RPC)
	time.Sleep(2 * time.Second)
	if now := rpcHeight(t, d.Nodes[0].RPC); now > stalled+1 {
		t.Errorf("with 2 of 4 validators down the chain went from %d to %d", stalled, now)
	}
	restart(2)
	if got := waitRPCHeight(t, d.Nodes[0].RPC, stalled+3); got <= stalled+2 {
		t.Errorf("chain did not resume after a validator returned")
	}
	// The devnet home acts as node 0 for client commands.
	if out, err := exec.Command(bin, "--home", dir, "spacecore", "ls").CombinedOutput(); err != nil {
		t.Errorf("spacecore ls against the devnet: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "devnet", "down", "--home", dir).CombinedOutput(); err != nil {
		t.Fatalf("devnet down: %v\n%s", err, out)
	}
	for _, n := range devnetStatus(t, bin, dir).Nodes {
		if n.Alive {
			t.Errorf("node %d still alive after down", n.Index)
		}
	}
}

func rpcJSON(t *testing.T, url string, out any) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out) == nil
}

func rpcHeight(t *testing.T, rpc string) int64 {
	var st struct {
		Result struct {
			SyncInfo struct {
				Height string `json:"latest_block_height"`
			} `json:"sync_info"`
		} `json:"result"`
	}
	rpcJSON(t, rpc+"/status", &st)
	h, _ := strconv.ParseInt(st.Result.SyncInfo.Height, 10, 64)
	return h
}

func waitRPCHeight(t *testing.T, rpc string, h int64) int64 {
	var got int64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = rpcHeight(t, rpc); got > h {
			break
		}
	}
	return got
}

// appHash is the app hash in the header of block h+1 (the state after h),
// or "" if the node does not have it yet.
func appHash(t *testing.T, rpc string, h int64) string {
	var b struct {
		Result struct {
			Block struct {
				Header struct {
					AppHash string `json:"app_hash"`
				} `json:"header"`
			} `json:"block"`
		} `json:"result"`
	}
	if !rpcJSON(t, fmt.Sprintf("%s/block?height=%d", rpc, h+1), &b) {
		return ""
	}
	return b.Result.Block.Header.AppHash
}
