// Command node measures the node daemon (issue 3): API round trip over the
// unix socket and over signed TCP, spacecore start latency through the
// daemon (Run returns once the workload runs) beside the same start done
// directly on the sandbox provider in the same run, and the daemon's idle
// RSS. It runs a real `vimana node start` process.
//
//	make build && go run -tags seccomp ./bench/node -vimana bin/vimana -n 50
//
// Needs root.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/bench/internal/stats"
	"github.com/vistara-labs/vimana/internal/api"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
	"github.com/vistara-labs/vimana/internal/image"
	inode "github.com/vistara-labs/vimana/internal/node"
)

func main() {
	if inode.HandleReexec() {
		return
	}
	bin := flag.String("vimana", "bin/vimana", "vimana binary to run as the daemon")
	n := flag.Int("n", 50, "samples per figure")
	idle := flag.Int("idle", 0, "also measure the daemon's CPU while supervising this many idle spacecores (e.g. 1000)")
	window := flag.Duration("window", 60*time.Second, "CPU measurement window for -idle")
	flag.StringVar(&profileOut, "profile", "", "with -idle, write the daemon's CPU profile over the window to FILE and its heap profile to FILE.heap (go tool pprof)")
	flag.Parse()
	idleN, idleWindow = *idle, *window
	if err := run(*bin, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench/node:", err)
		os.Exit(1)
	}
}

var (
	idleN      int
	idleWindow time.Duration
	profileOut string
)

// cpuSeconds is a process's user+system CPU time.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// cpuOver returns the CPU share of one core pid used over w.
func cpuOver(pid int, w time.Duration) float64 {
	c0 := cpuSeconds(pid)
	time.Sleep(w)
	return (cpuSeconds(pid) - c0) / w.Seconds() * 100
}

func freeAddr() string {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().String()
}

func run(bin string, n int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vimana-bench-node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	home := filepath.Join(dir, "home")
	if _, err := inode.Init(ctx, home, inode.InitOptions{}); err != nil {
		return err
	}
	cfg, _ := inode.LoadConfig(home)
	cfg.API.Listen, cfg.Gateway.Listen, cfg.Metrics.Listen = freeAddr(), freeAddr(), ""
	if idleN > 0 {
		cfg.Capacity.Overcommit = 50 // 1,000 idle spacecores ask for more CPU than the host has
	}
	if err := inode.WriteConfig(home, cfg); err != nil {
		return err
	}
	logf, _ := os.Create(filepath.Join(dir, "daemon.log"))
	d := exec.Command(bin, "--home", home, "node", "start")
	d.Stdout, d.Stderr = logf, logf
	if err := d.Start(); err != nil {
		return err
	}
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	sock := filepath.Join(home, "vimana.sock")
	local := api.DialUnix(sock)
	for i := 0; ; i++ {
		if _, err := local.Node.Version(ctx, connect.NewRequest(&vimanav1.VersionRequest{})); err == nil {
			break
		}
		if i > 300 {
			return fmt.Errorf("daemon did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	rss := rssMiB(d.Process.Pid)

	key, _ := inode.NodePrivateKey(home)
	tcp := api.DialTCP("http://"+cfg.API.Listen, key)
	var viaSock, viaTCP []time.Duration
	for i := 0; i < n*4; i++ {
		t0 := time.Now()
		if _, err := local.Spacecores.List(ctx, connect.NewRequest(&vimanav1.ListRequest{})); err != nil {
			return err
		}
		viaSock = append(viaSock, time.Since(t0))
		t0 = time.Now()
		if _, err := tcp.Spacecores.List(ctx, connect.NewRequest(&vimanav1.ListRequest{})); err != nil {
			return err
		}
		viaTCP = append(viaTCP, time.Since(t0))
	}

	// Start latency: through the daemon vs directly on the provider, on
	// the same cached image, interleaved.
	rootfs, err := hypercoretest.BuildWorkloadRootFS()
	if err != nil {
		return err
	}
	layout := filepath.Join(dir, "image")
	if err := writeTWImage(rootfs, layout); err != nil {
		return err
	}
	hac := fmt.Sprintf("[spacecore]\nname = \"b%%d\"\n[image]\nref = \"oci-layout:%s:latest\"\ncommand = [\"/bin/tw\", \"sleep\"]\n[hardware]\ncores = 0.5\nmemory = \"16MiB\"\ndisk = \"8MiB\"\n[network]\negress = false\n", layout)
	factory, err := hypercore.Lookup(hypercore.IsolationSandbox)
	if err != nil {
		return err
	}
	direct, err := factory(filepath.Join(dir, "direct"))
	if err != nil {
		return err
	}
	store, _ := image.Open(filepath.Join(dir, "direct-images"))
	img, err := store.Pull(ctx, image.PrefixLayout+layout+":latest", image.PullOptions{})
	if err != nil {
		return err
	}
	spec := hypercore.MachineSpec{Name: "d", RootFS: img.RootFS, Process: hypercore.Process{Args: []string{"/bin/tw", "sleep"}},
		Resources: hypercore.Resources{MilliCPU: 500, MemoryBytes: 16 << 20, DiskBytes: 8 << 20, Pids: 1024}}
	// Warm the daemon's image cache once.
	warm, err := local.Spacecores.Run(ctx, connect.NewRequest(&vimanav1.RunRequest{HacToml: fmt.Sprintf(hac, 999999), Filename: "/bench/hac.toml"}))
	if err != nil {
		return err
	}
	local.Spacecores.Remove(ctx, connect.NewRequest(&vimanav1.RemoveRequest{Id: warm.Msg.Spacecore.Id}))
	var viaDaemon, viaProvider []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		r, err := local.Spacecores.Run(ctx, connect.NewRequest(&vimanav1.RunRequest{HacToml: fmt.Sprintf(hac, i), Filename: "/bench/hac.toml"}))
		if err != nil {
			return err
		}
		viaDaemon = append(viaDaemon, time.Since(t0))
		local.Spacecores.Remove(ctx, connect.NewRequest(&vimanav1.RemoveRequest{Id: r.Msg.Spacecore.Id}))
		id := fmt.Sprintf("direct-%d-%d", os.Getpid(), i)
		t0 = time.Now()
		if err := direct.Create(ctx, id, spec); err != nil {
			return err
		}
		if err := direct.Start(ctx, id); err != nil {
			return err
		}
		viaProvider = append(viaProvider, time.Since(t0))
		direct.Delete(ctx, id)
	}
	sd, sp := stats.Summarize(viaDaemon), stats.Summarize(viaProvider)
	fmt.Printf("API round trip (List), unix socket:     %s\n", stats.Summarize(viaSock))
	fmt.Printf("API round trip (List), TCP + ed25519:   %s\n", stats.Summarize(viaTCP))
	fmt.Printf("start via daemon (API Run -> running):  %s\n", sd)
	fmt.Printf("start direct on the sandbox provider:   %s\n", sp)
	fmt.Printf("daemon overhead at p50: %.1f ms\n", float64(sd.P50-sp.P50)/1e6)
	fmt.Printf("daemon idle RSS (no spacecores, no chain): %.1f MiB\n", rss)
	if idleN > 0 {
		return idleCPU(ctx, local, sock, d.Process.Pid, layout)
	}
	return nil
}

// idleCPU measures the daemon's CPU with no spacecores, then while it
// supervises idleN idle ones (tw sleep; tiny limits).
func idleCPU(ctx context.Context, local *api.Client, sock string, pid int, layout string) error {
	base := cpuOver(pid, idleWindow)
	hac := fmt.Sprintf("[spacecore]\nname = \"idle%%d\"\n[image]\nref = \"oci-layout:%s:latest\"\ncommand = [\"/bin/tw\", \"sleep\"]\n[hardware]\ncores = 0.05\nmemory = \"8MiB\"\ndisk = \"1MiB\"\n[network]\negress = false\n", layout)
	ids := make(chan string, idleN)
	work := make(chan int)
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r, err := local.Spacecores.Run(ctx, connect.NewRequest(&vimanav1.RunRequest{HacToml: fmt.Sprintf(hac, i), Filename: "/bench/hac.toml"}))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				ids <- r.Msg.Spacecore.Id
			}
		}()
	}
	for i := 0; i < idleN; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(ids)
	started := time.Since(t0)
	if len(errs) > 0 {
		fmt.Printf("idle: %d of %d failed to start, first: %v\n", len(errs), idleN, errs[0])
	}
	time.Sleep(10 * time.Second) // let starts settle
	var prof sync.WaitGroup
	if profileOut != "" {
		prof.Add(1)
		go func() {
			defer prof.Done()
			if err := fetchProfile(sock, profileOut, idleWindow); err != nil {
				fmt.Printf("profile: %v\n", err)
			}
		}()
	}
	busy := cpuOver(pid, idleWindow)
	prof.Wait()
	if profileOut != "" {
		if err := fetchDebug(sock, "heap", profileOut+".heap"); err != nil {
			fmt.Printf("heap profile: %v\n", err)
		}
	}
	rss := rssMiB(pid)
	n := 0
	for id := range ids {
		local.Spacecores.Remove(ctx, connect.NewRequest(&vimanav1.RemoveRequest{Id: id}))
		n++
	}
	fmt.Printf("daemon CPU, no spacecores:              %.2f%% of one core over %s\n", base, idleWindow)
	fmt.Printf("daemon CPU, %d idle spacecores:       %.2f%% of one core over %s (started in %s); daemon RSS %.1f MiB\n", n, busy, idleWindow, started.Round(time.Second), rss)
	return nil
}

func writeTWImage(rootfs, layout string) error {
	img, err := image.Build(image.BuildOptions{Binary: filepath.Join(rootfs, "bin", "tw"), Path: "/bin/tw"})
	if err != nil {
		return err
	}
	return image.WriteLayout(img, layout, "latest")
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// fetchProfile saves the daemon's CPU profile over w from the admin socket.
func fetchProfile(sock, out string, w time.Duration) error {
	return fetchDebug(sock, fmt.Sprintf("profile?seconds=%d", int(w.Seconds())), out)
}

// fetchDebug saves /debug/pprof/<what> from the admin socket to out.
func fetchDebug(sock, what, out string) error {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://vimana/debug/pprof/" + what)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
