// Command chain measures the microchain (issue 4, "Measure") against
// CometBFT's own kvstore example app, both as 4-validator loopback
// networks of separate processes with the same consensus timeouts
// (timeout_commit 200 ms, timeout_propose 1 s): committed transactions
// per second under load, block interval (idle and under load), time to
// finality (broadcast_tx_sync → the tx is found in a committed block) and
// node RSS. vimana runs as `vimana devnet up --nodes 4`; kvstore runs as
// this command re-executed four times ("kvnode").
//
//	make build && go run -tags seccomp ./bench/chain -vimana bin/vimana
//
// Needs root for the vimana devnet (its nodes are providers).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vistara-labs/vimana/bench/internal/stats"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "kvnode" {
		if err := kvNodeMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kvnode:", err)
			os.Exit(1)
		}
		return
	}
	bin := flag.String("vimana", "bin/vimana", "vimana binary")
	dur := flag.Duration("duration", 20*time.Second, "load duration per chain")
	senders := flag.Int("senders", 8, "concurrent senders (one key each)")
	only := flag.String("only", "", "run only vimana or kvstore")
	flag.Parse()
	var res []result
	for _, name := range []string{"kvstore", "vimana"} {
		if *only != "" && *only != name {
			continue
		}
		var r result
		var err error
		if name == "vimana" {
			r, err = benchVimana(*bin, *dur, *senders)
		} else {
			r, err = benchKV(*dur, *senders)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench/chain: %s: %v\n", name, err)
			os.Exit(1)
		}
		r.Name = name
		res = append(res, r)
		fmt.Println(r)
	}
	if len(res) == 2 {
		fmt.Printf("vimana/kvstore tx/s: %.2f\n", res[1].TPS/res[0].TPS)
	}
}

type result struct {
	Name                 string
	Submitted, Committed int
	TPS                  float64
	IdleInterval         stats.Summary
	LoadInterval         stats.Summary
	Finality             stats.Summary
	RSSMaxMiB, RSSSumMiB float64
	TxBytes              int
}

func (r result) String() string {
	return fmt.Sprintf("%s: %.0f tx/s committed (%d of %d submitted, %d-byte txs)\n  block interval idle: %s\n  block interval load: %s\n  finality (load):     %s\n  RSS per node max %.0f MiB, 4 nodes %.0f MiB",
		r.Name, r.TPS, r.Committed, r.Submitted, r.TxBytes, r.IdleInterval, r.LoadInterval, r.Finality, r.RSSMaxMiB, r.RSSSumMiB)
}

// submitFn submits one transaction for a worker and returns its hash;
// errors (a full mempool) make the worker back off briefly.
type submitFn func(ctx context.Context) ([]byte, error)

// measure loads the network with one submitter per worker for d, probes
// finality with a separate submitter, and reads blocks back from rpc.
func measure(rpc string, pids []int, workers []submitFn, probe submitFn, d time.Duration) (result, error) {
	var r result
	ctx := context.Background()
	// Idle block interval first.
	h0, err := height(rpc)
	if err != nil {
		return r, err
	}
	time.Sleep(5 * time.Second)
	h1, _ := height(rpc)
	if r.IdleInterval, err = intervals(rpc, h0, h1); err != nil {
		return r, err
	}
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start, _ := height(rpc)
	var submitted atomic.Int64
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				if _, err := w(lctx); err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				submitted.Add(1)
			}
		}()
	}
	var fin []time.Duration
	for lctx.Err() == nil {
		t0 := time.Now()
		h, err := probe(ctx)
		if err == nil {
			if waitTx(ctx, rpc, h, 30*time.Second) {
				fin = append(fin, time.Since(t0))
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	end, _ := height(rpc)
	r.RSSMaxMiB, r.RSSSumMiB = rss(pids)
	r.Submitted = int(submitted.Load())
	r.Finality = stats.Summarize(fin)
	if r.LoadInterval, err = intervals(rpc, start, end); err != nil {
		return r, err
	}
	metas, err := blockMetas(rpc, start, end)
	if err != nil {
		return r, err
	}
	for _, m := range metas[1:] {
		r.Committed += m.NumTxs
	}
	span := metas[len(metas)-1].Time.Sub(metas[0].Time)
	r.TPS = float64(r.Committed) / span.Seconds()
	return r, nil
}

type meta struct {
	Height int64
	Time   time.Time
	NumTxs int
}

// blockMetas returns headers from..to in height order (CometBFT's
// /blockchain returns at most 20 per call, newest first).
func blockMetas(rpc string, from, to int64) ([]meta, error) {
	var out []meta
	for hi := to; hi >= from; hi -= 20 {
		lo := max(from, hi-19)
		var r struct {
			BlockMetas []struct {
				NumTxs string `json:"num_txs"`
				Header struct {
					Height string    `json:"height"`
					Time   time.Time `json:"time"`
				} `json:"header"`
			} `json:"block_metas"`
		}
		if err := rpcGet(rpc, "blockchain", url.Values{"minHeight": {fmt.Sprint(lo)}, "maxHeight": {fmt.Sprint(hi)}}, &r); err != nil {
			return nil, err
		}
		for _, m := range r.BlockMetas {
			h, _ := strconv.ParseInt(m.Header.Height, 10, 64)
			n, _ := strconv.Atoi(m.NumTxs)
			out = append(out, meta{Height: h, Time: m.Header.Time, NumTxs: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Height < out[j].Height })
	if len(out) < 2 {
		return nil, fmt.Errorf("only %d blocks between heights %d and %d", len(out), from, to)
	}
	return out, nil
}

func intervals(rpc string, from, to int64) (stats.Summary, error) {
	ms, err := blockMetas(rpc, from, to)
	if err != nil {
		return stats.Summary{}, err
	}
	var d []time.Duration
	for i := 1; i < len(ms); i++ {
		d = append(d, ms[i].Time.Sub(ms[i-1].Time))
	}
	return stats.Summarize(d), nil
}

func height(rpc string) (int64, error) {
	var st struct {
		SyncInfo struct {
			H string `json:"latest_block_height"`
		} `json:"sync_info"`
	}
	if err := rpcGet(rpc, "status", nil, &st); err != nil {
		return 0, err
	}
	return strconv.ParseInt(st.SyncInfo.H, 10, 64)
}

// waitTx polls /tx every 5 ms until hash is in a committed block.
func waitTx(ctx context.Context, rpc string, hash []byte, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var r json.RawMessage
		if rpcGet(rpc, "tx", url.Values{"hash": {"0x" + hex.EncodeToString(hash)}}, &r) == nil {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

var httpc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func rpcGet(rpc, method string, params url.Values, out any) error {
	resp, err := httpc.Get(strings.TrimRight(rpc, "/") + "/" + method + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return err
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %s %s", method, env.Error.Message, env.Error.Data)
	}
	return json.Unmarshal(env.Result, out)
}

// broadcast submits raw with broadcast_tx_sync and returns its hash.
func broadcast(rpc string, raw []byte) ([]byte, error) {
	var r struct {
		Code uint32 `json:"code"`
		Log  string `json:"log"`
	}
	if err := rpcGet(rpc, "broadcast_tx_sync", url.Values{"tx": {"0x" + hex.EncodeToString(raw)}}, &r); err != nil {
		return nil, err
	}
	if r.Code != 0 {
		return nil, fmt.Errorf("code %d: %s", r.Code, r.Log)
	}
	h := sha256.Sum256(raw)
	return h[:], nil
}

// rss returns the largest and the summed VmRSS of pids, in MiB.
func rss(pids []int) (float64, float64) {
	var mx, sum float64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				mx, sum = max(mx, kb/1024), sum+kb/1024
			}
		}
	}
	return mx, sum
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func benchKV(d time.Duration, senders int) (result, error) {
	dir, err := os.MkdirTemp("", "vimana-bench-kv-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	kn, err := setupKV(dir, 4)
	if err != nil {
		return result{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}()
	var pids []int
	for i, h := range kn.homes {
		logf, err := os.Create(filepath.Join(h, "node.log"))
		if err != nil {
			return result{}, err
		}
		cmd := exec.Command(self, "kvnode", "-home", h, "-rpc", "tcp://"+kn.rpcs[i], "-p2p", "tcp://"+kn.p2ps[i], "-peers", kn.peers(i))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return result{}, err
		}
		logf.Close()
		procs, pids = append(procs, cmd), append(pids, cmd.Process.Pid)
	}
	rpcs := make([]string, len(kn.rpcs))
	for i, a := range kn.rpcs {
		rpcs[i] = "http://" + a
	}
	if err := waitHeight(rpcs, 3, 60*time.Second); err != nil {
		return result{}, err
	}
	pad := strings.Repeat("x", txPad)
	mk := func(tag string, rpc string) submitFn {
		var i int
		return func(context.Context) ([]byte, error) {
			i++
			return broadcast(rpc, []byte(fmt.Sprintf("%s-%d=%s", tag, i, pad)))
		}
	}
	var workers []submitFn
	for w := 0; w < senders; w++ {
		workers = append(workers, mk(fmt.Sprintf("w%d", w), rpcs[w%len(rpcs)]))
	}
	r, err := measure(rpcs[0], pids, workers, mk("probe", rpcs[0]), d)
	r.TxBytes = len(fmt.Sprintf("w0-1000=%s", pad))
	return r, err
}

// txPad makes kvstore transactions about as large as a vimana transfer.
var txPad = 300

func waitHeight(rpcs []string, h int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, rpc := range rpcs {
		for {
			got, err := height(rpc)
			if err == nil && got >= h {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not at height %d (last %d, %v)", rpc, h, got, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}
