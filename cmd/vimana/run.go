package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/image"
)

type runFlags struct {
	insecure []string
	grace    time.Duration
	detachID string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a spacecore from a hac.toml in the foreground on this machine",
		Long: `run starts the spacecore described by FILE on this machine, without a daemon:
it resolves and caches the image, creates a sandbox of the requested isolation
level, publishes the ports, prints the id, state and URLs, and streams the
workload's logs. It exits with the workload's exit code. SIGINT/SIGTERM stop
the workload (SIGTERM, then SIGKILL after --grace) and remove everything the
run created. Needs root for the sandbox.`,
		Example: `  vimana run examples/hello/hac.toml
  vimana run -o json app/hac.toml        # JSON events instead of text`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSpacecore(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], f)
		},
	}
	cmd.Flags().StringSliceVar(&f.insecure, "insecure-registry", nil, "registry host:port to reach over plain http (127.0.0.1 and localhost always are)")
	cmd.Flags().DurationVar(&f.grace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL when stopping")
	return cmd
}

// runEvent is one line of `run -o json`.
type runEvent struct {
	Event string                `json:"event"`
	ID    string                `json:"id"`
	State hypercore.State       `json:"state,omitempty"`
	Image string                `json:"image,omitempty"`
	URLs  []string              `json:"urls,omitempty"`
	Ports []hypercore.Port      `json:"ports,omitempty"`
	Exit  *hypercore.ExitStatus `json:"exit,omitempty"`
}

func runSpacecore(ctx context.Context, stdout, stderr io.Writer, file string, f runFlags) error {
	spec, warns, err := hac.ParseFile(file)
	for _, w := range warns {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		return err
	}
	ms := spec.MachineSpec()
	factory, err := hypercore.Lookup(ms.Isolation)
	if err != nil {
		return err
	}
	p, err := factory(filepath.Join(g.home, "hypercore", string(ms.Isolation)))
	if err != nil {
		return err
	}
	if err := p.Probe(ctx); err != nil {
		return fmt.Errorf("isolation %q is not available on this machine: %w", ms.Isolation, err)
	}
	store, err := image.Open(filepath.Join(g.home, "images"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "resolving image %s\n", spec.Image.Ref)
	img, err := store.Pull(ctx, spec.Image.Ref, image.PullOptions{
		MaxSize:            ms.Resources.DiskBytes,
		InsecureRegistries: f.insecure,
		Progress:           progressPrinter(stderr),
	})
	if err != nil {
		return err
	}
	ms.RootFS = img.RootFS
	ms.Process, err = img.Process(image.Override{
		Command: spec.Image.Command, Args: spec.Image.Args, Env: spec.Image.EnvList(),
		Workdir: spec.Image.Workdir, User: spec.Image.User,
	})
	if err != nil {
		return err
	}
	id := newMachineID(ms.Name)
	for i := range ms.Volumes {
		dir := filepath.Join(g.home, "volumes", ms.Name, ms.Volumes[i].Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		ms.Volumes[i].HostPath = dir
	}
	if ms.Labels == nil {
		ms.Labels = map[string]string{}
	}
	ms.Labels["vimana.image"] = img.Digest
	ms.Labels["vimana.hac"] = file

	// From here on every exit path removes the machine. Cleanup gets its
	// own context: the run's context is cancelled by the very signal that
	// asks us to clean up.
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.Background(), f.grace+30*time.Second)
		defer cancel()
		if err := p.Stop(cctx, id, f.grace); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
			fmt.Fprintln(stderr, "warning: stopping:", err)
		}
		if err := p.Delete(cctx, id); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
			fmt.Fprintln(stderr, "warning: deleting:", err)
		}
	}
	if err := p.Create(ctx, id, ms); err != nil {
		return fmt.Errorf("creating spacecore: %w", err)
	}
	defer cleanup()
	if err := p.Start(ctx, id); err != nil {
		return fmt.Errorf("starting spacecore %s: %w", id, err)
	}
	st, err := p.State(ctx, id)
	if err != nil {
		return err
	}
	urls := publishedURLs(st.Ports)
	if jsonOutput() {
		printJSON(stdout, runEvent{Event: "started", ID: id, State: st.State, Image: img.Digest, URLs: urls, Ports: st.Ports})
	} else {
		fmt.Fprintf(stderr, "spacecore %s %s (image %s)\n", id, st.State, shortDigest(img.Digest))
		for _, u := range urls {
			fmt.Fprintf(stderr, "  %s\n", u)
		}
	}

	// Stream logs until the workload exits or we are signalled.
	logCtx, stopLogs := context.WithCancel(context.Background())
	defer stopLogs()
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		rc, err := p.Logs(logCtx, id, hypercore.LogOptions{Follow: true})
		if err != nil {
			return
		}
		defer rc.Close()
		out := stdout
		if jsonOutput() {
			out = stderr
		}
		io.Copy(out, rc)
	}()
	exit, err := p.Wait(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "stopping %s\n", id)
			cleanup()
			<-logsDone
			return nil
		}
		return err
	}
	select { // let the follower drain the tail of the log
	case <-logsDone:
	case <-time.After(2 * time.Second):
	}
	if jsonOutput() {
		printJSON(stdout, runEvent{Event: "exited", ID: id, State: hypercore.StateStopped, Exit: &exit})
	} else {
		fmt.Fprintf(stderr, "spacecore %s exited with code %d\n", id, exit.Code)
	}
	if exit.Code != 0 {
		cleanup()
		return exitCode(exit.Code)
	}
	return nil
}

func publishedURLs(ports []hypercore.Port) []string {
	var urls []string
	for _, p := range ports {
		if p.Protocol == "" || p.Protocol == "tcp" {
			host := p.HostIP
			if host == "" || host == "0.0.0.0" {
				host = "127.0.0.1"
			}
			urls = append(urls, fmt.Sprintf("http://%s:%d/", host, p.HostPort))
		}
	}
	return urls
}

func newMachineID(name string) string {
	b := make([]byte, 3)
	rand.Read(b)
	name = strings.ToLower(name)
	if len(name) > 40 {
		name = name[:40]
	}
	return strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
