package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/node"
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
	if out, err := exec.Command(bin, "--home", dir, "wallet", "send", "tenant", "provider-1", "2.5vis").CombinedOutput(); err != nil {
		t.Fatalf("wallet send: %v\n%s", err, out)
	}
	var bal struct {
		Balance uint64 `json:"balance_uvis"`
		Nonce   uint64 `json:"nonce"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command(bin, "--home", dir, "wallet", "balance", "provider-1", "--rpc", d.Nodes[2].RPC, "-o", "json").CombinedOutput()
		if err != nil {
			t.Fatalf("wallet balance: %v\n%s", err, out)
		}
		json.Unmarshal(out, &bal)
		if bal.Balance == node.DevnetFunds+2_500_000 || time.Now().After(deadline) {
			break
		}
	}
	if bal.Balance != node.DevnetFunds+2_500_000 {
		t.Fatalf("provider-1 balance on node 2 = %d, want %d", bal.Balance, node.DevnetFunds+2_500_000)
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
