package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/image"
	"github.com/vistara-labs/vimana/internal/image/imagetest"
	"github.com/vistara-labs/vimana/internal/node"
)

// daemon is a `vimana node start` process.
type daemon struct {
	t    *testing.T
	bin  string
	home string
	cmd  *exec.Cmd
	log  *os.File
}

func (d *daemon) start() {
	d.t.Helper()
	d.cmd = exec.Command(d.bin, "--home", d.home, "node", "start")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	// Ready when the socket answers.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out, err := exec.Command(d.bin, "--home", d.home, "sc", "ls").CombinedOutput(); err == nil {
			_ = out
			return
		}
	}
	d.t.Fatalf("daemon did not come up; log:\n%s", d.logText())
}

func (d *daemon) logText() string { b, _ := os.ReadFile(d.log.Name()); return string(b) }

func (d *daemon) kill9() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.cmd.Wait()
}

func (d *daemon) vimana(args ...string) []byte {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.bin, append([]string{"--home", d.home}, args...)...).CombinedOutput()
	if ctx.Err() != nil {
		// A hang: dump the daemon's goroutines into its log for the report.
		d.cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(time.Second)
		log := d.logText()
		if len(log) > 60000 {
			log = log[len(log)-60000:]
		}
		d.t.Fatalf("vimana %v did not answer in 3 minutes; daemon log and goroutines:\n%s", args, log)
	}
	if err != nil {
		d.t.Fatalf("vimana %v: %v\n%s", args, err, out)
	}
	return out
}

func get(t *testing.T, url, host string) string {
	t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("GET", url, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return string(b)
		}
		last = fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	t.Fatalf("GET %s (Host %q): %v", url, host, last)
	return ""
}

// TestNodeEndToEnd: the daemon as a real process runs the hello spacecore,
// serves it through the gateway by Host header and by path, survives
// kill -9 and serves it again after restart, with no duplicate.
func TestNodeEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the node daemon runs sandboxes: needs root; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("starts real daemons; skipped with -short")
	}
	bin := buildVimana(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	d := &daemon{t: t, bin: bin, home: home}
	d.vimana("node", "init")
	cfg, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.Gateway.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := node.WriteConfig(home, cfg); err != nil {
		t.Fatal(err)
	}
	d.log, _ = os.Create(filepath.Join(dir, "daemon.log"))
	d.start()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Signal(syscall.SIGTERM)
			d.cmd.Wait()
		}
	})

	hello := imagetest.GoBinary(t, "./examples/hello")
	img, err := image.Build(image.BuildOptions{Binary: hello, Path: "/hello", Ports: []string{"8080"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteLayout(img, filepath.Join(dir, "image"), "latest"); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../../examples/hello/hac.toml")
	hacFile := filepath.Join(dir, "hac.toml")
	os.WriteFile(hacFile, []byte(strings.Replace(string(src), "host_port = 8080", fmt.Sprintf("host_port = %d", freePort(t)), 1)), 0o644)

	var run struct {
		ID   string   `json:"id"`
		URL  string   `json:"url"`
		URLs []string `json:"urls"`
	}
	if err := json.Unmarshal(d.vimana("sc", "run", hacFile, "-o", "json"), &run); err != nil || run.ID == "" {
		t.Fatalf("sc run: %+v %v", run, err)
	}
	t.Cleanup(func() { exec.Command(bin, "--home", home, "sc", "rm", run.ID).Run() })
	byHost := fmt.Sprintf("%s.%s", run.ID, cfg.Gateway.BaseDomain)
	check := func(when string) {
		if b := get(t, "http://"+cfg.Gateway.Listen+"/", byHost); !strings.HasPrefix(b, "hello from") {
			t.Errorf("%s, by Host: %q", when, b)
		}
		if b := get(t, run.URL, ""); !strings.HasPrefix(b, "hello from") {
			t.Errorf("%s, by path %s: %q", when, run.URL, b)
		}
	}
	check("first start")

	d.kill9()
	d.start()
	check("after kill -9 and restart")
	var list []map[string]any
	if err := json.Unmarshal(d.vimana("sc", "ls", "-o", "json"), &list); err != nil || len(list) != 1 {
		t.Fatalf("after restart: %d spacecores (%v), want exactly 1", len(list), err)
	}
	if !strings.Contains(d.logText(), "adopted") {
		t.Errorf("the restarted daemon did not re-adopt the spacecore; log:\n%s", d.logText())
	}
	d.vimana("sc", "rm", run.ID)
	if out, err := exec.Command("iptables-save").Output(); err == nil && strings.Contains(string(out), "vimana:"+run.ID) {
		t.Errorf("firewall rules of %s left after rm", run.ID)
	}
}

// TestNodeKill9With50 is the reliability case: kill -9 the daemon
// with 50 running spacecores; after restart all 50 are listed and serving,
// with no duplicates and nothing leaked.
func TestNodeKill9With50(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the node daemon runs sandboxes: needs root; CI runs this as root")
	}
	if testing.Short() {
		t.Skip("starts 50 sandboxes; skipped with -short")
	}
	const n = 50
	bin := buildVimana(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	d := &daemon{t: t, bin: bin, home: home}
	d.vimana("node", "init")
	cfg, _ := node.LoadConfig(home)
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.Gateway.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.Metrics.Listen = ""
	node.WriteConfig(home, cfg)
	d.log, _ = os.Create(filepath.Join(dir, "daemon.log"))
	d.start()
	var ids []string
	t.Cleanup(func() {
		for _, id := range ids {
			exec.Command(bin, "--home", home, "sc", "rm", id).Run()
		}
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Signal(syscall.SIGTERM)
			d.cmd.Wait()
		}
	})
	hello := imagetest.GoBinary(t, "./examples/hello")
	img, _ := image.Build(image.BuildOptions{Binary: hello, Path: "/hello", Ports: []string{"8080"}})
	if err := image.WriteLayout(img, filepath.Join(dir, "image"), "latest"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		hacFile := filepath.Join(dir, fmt.Sprintf("hac-%d.toml", i))
		os.WriteFile(hacFile, []byte(fmt.Sprintf(`[spacecore]
name = "many-%d"
[image]
ref = "oci-layout:image:latest"
[hardware]
cores = 0.01
memory = "16MiB"
disk = "8MiB"
[network]
egress = false
ports = [{ port = 8080 }]
`, i)), 0o644)
		var run struct{ ID, URL string }
		if err := json.Unmarshal(d.vimana("sc", "run", hacFile, "-o", "json"), &run); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	d.kill9()
	d.start()
	var list []struct {
		Id    string `json:"id"`
		Phase string `json:"phase"`
	}
	if err := json.Unmarshal(d.vimana("sc", "ls", "-o", "json"), &list); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range list {
		if seen[s.Id] {
			t.Errorf("duplicate %s", s.Id)
		}
		seen[s.Id] = true
	}
	if len(list) != n {
		t.Fatalf("after kill -9 and restart: %d spacecores listed, want %d", len(list), n)
	}
	for _, id := range ids {
		if b := get(t, fmt.Sprintf("http://%s/sc/%s/", cfg.Gateway.Listen, id), ""); !strings.HasPrefix(b, "hello from") {
			t.Errorf("%s after restart: %q", id, b)
		}
	}
	// One machine per spacecore: no duplicates on the provider side.
	ents, _ := os.ReadDir(filepath.Join(home, "hypercore", "sandbox", "machines"))
	if len(ents) != n {
		t.Errorf("%d machines on the provider, want %d", len(ents), n)
	}
	for _, id := range ids {
		d.vimana("sc", "rm", id)
	}
	ids = nil
	ents, _ = os.ReadDir(filepath.Join(home, "hypercore", "sandbox", "machines"))
	if len(ents) != 0 {
		t.Errorf("%d machines left after rm", len(ents))
	}
}
