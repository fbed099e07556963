// Command market measures the marketplace (issue 5) on a real 4-node
// devnet of separate processes: deploy → first HTTP 200 at the lease URL
// (sequential deploys, p50/p95), many concurrent deploys with none lost,
// chain state bytes per lease, and time from SIGKILL of a lease's
// provider to the same URL serving again. The pure auction cost (10k
// providers × 1k orders in one block) is the Go benchmark
// BenchmarkAuction10kProviders1kOrders in internal/market.
//
//	make build && go run -tags seccomp ./bench/market -vimana bin/vimana -deploys 20 -concurrent 100
//
// Needs root (providers run leases in the sandbox).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/vistara-labs/vimana/bench/internal/stats"
	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/node"
	"github.com/vistara-labs/vimana/internal/tenant"
	"github.com/vistara-labs/vimana/internal/wallet"
)

func main() {
	bin := flag.String("vimana", "bin/vimana", "vimana binary")
	deploys := flag.Int("deploys", 20, "sequential deploys to time")
	concurrent := flag.Int("concurrent", 100, "deploys submitted at once")
	kill := flag.Bool("kill", true, "also time rescheduling after SIGKILL of a provider")
	flag.Parse()
	if err := run(*bin, *deploys, *concurrent, *kill); err != nil {
		fmt.Fprintln(os.Stderr, "bench/market:", err)
		os.Exit(1)
	}
}

func run(bin string, deploys, concurrent int, kill bool) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "vimana-bench-market-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	// A registry for the image, as a devnet's.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(l, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	helloBin := filepath.Join(work, "hello")
	gb := exec.Command("go", "build", "-o", helloBin, "./examples/hello")
	gb.Env = append(os.Environ(), "CGO_ENABLED=0") // the image has no libc
	if out, err := gb.CombinedOutput(); err != nil {
		return fmt.Errorf("building hello: %v\n%s", err, out)
	}
	img, err := image.Build(image.BuildOptions{Binary: helloBin, Path: "/hello", Ports: []string{"8080"}})
	if err != nil {
		return err
	}
	layoutDir := filepath.Join(work, "image")
	if err := image.WriteLayout(img, layoutDir, "latest"); err != nil {
		return err
	}
	ref, err := tenant.PublishImage(ctx, image.PrefixLayout+layoutDir+":latest", l.Addr().String(), "hello")
	if err != nil {
		return err
	}

	dir := filepath.Join(work, "devnet")
	if out, err := exec.Command(bin, "devnet", "up", "--nodes", "4", "--home", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("devnet up: %v\n%s", err, out)
	}
	defer exec.Command(bin, "devnet", "down", "--home", dir).Run()
	d, err := node.LoadDevnet(dir)
	if err != nil {
		return err
	}
	ks, err := wallet.OpenKeystore(filepath.Join(dir, "keys"))
	if err != nil {
		return err
	}
	key, err := ks.Load("tenant", nil)
	if err != nil {
		return err
	}
	cfg0, err := node.LoadConfig(d.Nodes[0].Home)
	if err != nil {
		return err
	}
	_, gport, _ := net.SplitHostPort(cfg0.Gateway.Listen)
	cc := &chain.Client{RPC: d.Nodes[0].RPC}
	dep := &tenant.Deployer{Chain: cc, Signer: &chain.Signer{C: cc, Key: key}, Edge: cfg0.Gateway.BaseDomain + ":" + gport}
	// Let every provider register before the first order.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ps, _ := cc.Providers(ctx)
		if len(ps) == len(d.Nodes)-1 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d providers registered", len(ps))
		}
	}
	spec, _, err := hac.Parse("hello.toml", []byte(`
[spacecore]
name = "hello"
[image]
ref = "`+ref+`"
[hardware]
cores = 0.02
memory = "64MiB"
disk = "64MiB"
[network]
ports = [{ port = 8080 }]
`))
	if err != nil {
		return err
	}
	order, err := tenant.Order(spec, ref, 0, 0)
	if err != nil {
		return err
	}
	fmt.Printf("devnet: %d nodes (%d providers), image %s\n", len(d.Nodes), len(d.Nodes)-1, ref)

	// 1. Sequential deploys: submit → first HTTP 200 at the URL.
	var lat []time.Duration
	var first tenant.Result
	for i := 0; i < deploys; i++ {
		t0 := time.Now()
		res, err := dep.Deploy(ctx, order, time.Minute, time.Minute)
		if err != nil {
			return fmt.Errorf("deploy %d: %w", i, err)
		}
		lat = append(lat, time.Since(t0))
		if i == 0 {
			first = res
		} else if err := dep.Close(ctx, res.Lease); err != nil {
			return err
		}
	}
	fmt.Printf("deploy → first HTTP 200 (%d sequential): %s\n", deploys, stats.Summarize(lat))

	// 2. Chain state bytes per lease: the order record plus its entries in
	// the owner's and the provider's lists.
	o, err := cc.Order(ctx, first.Lease)
	if err != nil {
		return err
	}
	rec, _ := json.Marshal(o)
	recKey := len("mkt/o/") + len(o.ID)
	lists := 2 * (len(o.ID) + 1)
	fmt.Printf("chain state per lease: %d bytes (record %d + key %d + list entries %d)\n", len(rec)+recKey+lists, len(rec), recKey, lists)

	// 3. Concurrent deploys: all submitted at once; none may be lost.
	if concurrent > 0 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var clat []time.Duration
		var failed, leases []string
		t0 := time.Now()
		for i := 0; i < concurrent; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := time.Now()
				res, err := dep.Deploy(ctx, order, 3*time.Minute, 3*time.Minute)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err.Error())
					return
				}
				clat = append(clat, time.Since(s))
				leases = append(leases, res.Lease)
			}()
		}
		wg.Wait()
		fmt.Printf("concurrent deploys: %d submitted, %d serving, %d lost, all in %s; each: %s\n",
			concurrent, len(clat), len(failed), time.Since(t0).Round(time.Millisecond), stats.Summarize(clat))
		for i, f := range failed {
			if i < 5 {
				fmt.Println("  lost:", f)
			}
		}
		// Free the capacity again: one lease's move is timed next.
		for _, id := range leases {
			if err := dep.Close(ctx, id); err != nil {
				return fmt.Errorf("closing %s: %w", id, err)
			}
		}
	}

	// 4. SIGKILL the first lease's provider; time until the same URL serves again.
	if kill {
		st, err := cc.Order(ctx, first.Lease)
		if err != nil {
			return err
		}
		p, err := cc.Provider(ctx, *st.Provider)
		if err != nil {
			return err
		}
		for _, n := range d.Nodes {
			if n.API == p.Endpoint {
				syscall.Kill(n.Pid, syscall.SIGKILL)
			}
		}
		t0 := time.Now()
		hc := &http.Client{Timeout: time.Second, Transport: tenant.LoopbackTransport()}
		for {
			o, err := cc.Order(ctx, first.Lease)
			if err == nil && o.State == market.OrderLeased && *o.Provider != *st.Provider {
				if resp, err := hc.Get(first.URL); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
				}
			}
			if time.Since(t0) > 2*time.Minute {
				return fmt.Errorf("lease %s not serving again 2 minutes after its provider was killed", first.Lease)
			}
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Printf("provider SIGKILL → same URL serving again: %s\n", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}
