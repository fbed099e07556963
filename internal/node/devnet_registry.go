package node

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image"
)

// DevnetRegistry is the devnet's OCI registry process.
type DevnetRegistry struct {
	Addr  string `json:"addr"` // 127.0.0.1:PORT, kept across restarts so digest refs stay valid
	Dir   string `json:"dir"`  // blobs and manifest journal
	Pid   int    `json:"pid"`
	Log   string `json:"log"`
	Alive bool   `json:"alive"` // filled by Status
}

// upRegistry starts the registry (allocating it on first use), lets every
// node's puller reach it, and pushes the hello image when helloBinary is
// set.
func (d *Devnet) upRegistry(ctx context.Context, dir, bin, helloBinary string) error {
	if d.Registry == nil {
		addr, err := freeLoopback()
		if err != nil {
			return err
		}
		d.Registry = &DevnetRegistry{Addr: addr, Dir: filepath.Join(dir, "registry"), Log: filepath.Join(dir, "registry.log")}
	}
	r := d.Registry
	for _, nd := range d.Nodes {
		// Loopback registries speak http anyway; naming it keeps working if
		// someone moves the registry off loopback behind a proxy.
		cfg, err := LoadConfig(nd.Home)
		if err != nil {
			return err
		}
		if !slices.Contains(cfg.Image.InsecureRegistries, r.Addr) {
			cfg.Image.InsecureRegistries = append(cfg.Image.InsecureRegistries, r.Addr)
			if err := WriteConfig(nd.Home, cfg); err != nil {
				return err
			}
		}
	}
	if !alive(r.Pid) {
		if err := r.start(bin); err != nil {
			return err
		}
	}
	if err := r.wait(ctx); err != nil {
		return err
	}
	if err := d.save(dir); err != nil {
		return err
	}
	if helloBinary == "" {
		return nil
	}
	img, err := image.Build(image.BuildOptions{Binary: helloBinary, Path: "/hello", Ports: []string{"8080"}})
	if err != nil {
		return fmt.Errorf("building the hello image: %w", err)
	}
	ref, err := image.PushRef(ctx, img, r.Addr+"/hello:latest", image.PushOptions{})
	if err != nil {
		return fmt.Errorf("pushing the hello image to the devnet registry: %w", err)
	}
	d.Hello = ref
	return d.save(dir)
}

func (r *DevnetRegistry) start(bin string) error {
	logf, err := os.OpenFile(r.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "registry", "serve", "--listen", r.Addr, "--dir", r.Dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives `devnet up`
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the devnet registry: %w", err)
	}
	r.Pid = cmd.Process.Pid
	go cmd.Wait()
	return nil
}

// wait returns once the registry answers /v2/.
func (r *DevnetRegistry) wait(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+r.Addr+"/v2/", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !alive(r.Pid) {
			return fmt.Errorf("devnet registry exited (is %s taken?); see %s", r.Addr, r.Log)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w: devnet registry did not answer on %s; see %s", hypercore.ErrUnavailable, r.Addr, r.Log)
		}
	}
}
