package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/node"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// presignRate is how many tx/s, over the whole load, are signed ahead.
const presignRate = 4000

func benchVimana(bin string, d time.Duration, senders int) (result, error) {
	dir, err := os.MkdirTemp("", "vimana-bench-chain-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	up := exec.Command(bin, "--home", dir, "devnet", "up", "--nodes", "4")
	if out, err := up.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("devnet up: %v\n%s", err, out)
	}
	defer exec.Command(bin, "--home", dir, "devnet", "down").Run()
	dn, err := node.LoadDevnet(dir)
	if err != nil {
		return result{}, err
	}
	var pids []int
	var rpcs []string
	for _, n := range dn.Nodes {
		pids, rpcs = append(pids, n.Pid), append(rpcs, n.RPC)
	}
	ks, err := wallet.OpenKeystore(filepath.Join(dir, "keys"))
	if err != nil {
		return result{}, err
	}
	tenant, err := ks.Load("tenant", nil)
	if err != nil {
		return result{}, err
	}
	ctx := context.Background()
	// Fund one fresh key per sender (and the probe) from the tenant.
	fund := &chain.Signer{C: &chain.Client{RPC: rpcs[0]}, Key: tenant}
	keys := make([]*wallet.Key, senders+1)
	var last chain.Submitted
	for i := range keys {
		if keys[i], err = wallet.Generate(nil); err != nil {
			return result{}, err
		}
		if last, err = fund.Submit(ctx, app.TxTypeTransfer, &app.Transfer{To: keys[i].Address(), Amount: 1000 * 1_000_000}); err != nil {
			return result{}, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := fund.C.WaitTx(wctx, last.Hash); err != nil {
		return result{}, err
	}
	to := tenant.Address()
	p, err := fund.C.Params(ctx)
	if err != nil {
		return result{}, err
	}
	// Each sender counts its own nonces: a refused broadcast (full
	// mempool) is retried with the same nonce.
	// Transactions are signed before the load window (as kvstore's are
	// built before it: theirs need no signature), so the generator's
	// ed25519 signing does not compete with the nodes for the same cores;
	// a sender that runs out signs on the fly.
	mk := func(k *wallet.Key, rpc string, pre int) submitFn {
		var nonce uint64
		signed := make([][]byte, pre)
		for i := range signed {
			signed[i] = app.NewTransfer(k, p.ChainID, to, 1, p.MinFee, uint64(i)).Encode()
		}
		return func(ctx context.Context) ([]byte, error) {
			var raw []byte
			if nonce < uint64(len(signed)) {
				raw = signed[nonce]
			} else {
				raw = app.NewTransfer(k, p.ChainID, to, 1, p.MinFee, nonce).Encode()
			}
			h, err := broadcast(rpc, raw)
			if err == nil {
				nonce++
			}
			return h, err
		}
	}
	pre := int(presignRate*d.Seconds()) / senders
	var workers []submitFn
	for w := 0; w < senders; w++ {
		workers = append(workers, mk(keys[w], rpcs[w%len(rpcs)], pre))
	}
	r, err := measure(rpcs[0], pids, workers, mk(keys[senders], rpcs[0], 0), d)
	r.TxBytes = len(app.NewTransfer(tenant, dn.ChainID, to, 1, 10, 1000).Encode())
	return r, err
}
