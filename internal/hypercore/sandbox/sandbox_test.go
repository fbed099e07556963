package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hostcgroup"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// startTW creates and starts a machine running tw args and registers its
// deletion.
func startTW(t *testing.T, p *Provider, spec hypercore.MachineSpec, args ...string) string {
	t.Helper()
	id := hypercoretest.NewID("sb")
	spec.RootFS = hypercoretest.WorkloadRootFS(t)
	spec.Process.Args = append([]string{hypercoretest.TW}, args...)
	if err := p.Create(context.Background(), id, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Delete(context.Background(), id); checkClean(t, p, id) })
	if err := p.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

func execOut(t *testing.T, p *Provider, id string, req hypercore.ExecRequest) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	req.Stdout = &out
	code, err := p.Exec(ctx, id, req)
	if err != nil {
		t.Fatalf("Exec %v: %v", req.Args, err)
	}
	return code, out.String()
}

func TestEtcFiles(t *testing.T) {
	t.Parallel()
	p := newTestProviderOpts(t, Options{DNS: []string{"192.0.2.53"}})
	id := startTW(t, p, hypercore.MachineSpec{Name: "My_App", Network: hypercore.Network{Egress: true}}, "sleep")
	st, err := p.State(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"/etc/hostname":    "my-app\n",
		"/etc/hosts":       st.IP + "\tmy-app\n",
		"/etc/resolv.conf": "nameserver 192.0.2.53\n",
	} {
		code, out := execOut(t, p, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "cat", file}})
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("%s = %q (exit %d), want it to contain %q", file, out, code, want)
		}
	}
	if code, out := execOut(t, p, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "env"}}); code != 0 || !strings.Contains(out, "HOSTNAME=my-app\n") {
		t.Errorf("env = %q", out)
	}
}

func TestExecTTY(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	id := startTW(t, p, hypercore.MachineSpec{Name: "tty"}, "sleep")
	code, out := execOut(t, p, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "echo", "hello", "tty"}, TTY: true})
	// A terminal turns \n into \r\n and merges stderr into the output.
	if code != 0 || !strings.Contains(out, "hello tty\r\n") || !strings.Contains(out, "stderr: hello tty") {
		t.Errorf("tty exec: exit %d, output %q", code, out)
	}
	if code, _ := execOut(t, p, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "exit", "7"}, TTY: true}); code != 7 {
		t.Errorf("tty exec exit code %d, want 7", code)
	}
	code, out = execOut(t, p, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "cat", "/proc/self/fdinfo/0"}, TTY: true})
	if code != 0 {
		t.Errorf("cat fdinfo via tty: %d %q", code, out)
	}
}

// TestCgroupParentRemoved: on cgroup v1 libcontainer leaves the parent
// behind; teardown must not.
func TestCgroupParentRemoved(t *testing.T) {
	t.Parallel()
	parent := "/" + hypercoretest.NewID("vimana-test") + "/nested"
	p := newTestProviderOpts(t, Options{CgroupParent: parent})
	ids := make([]string, 2)
	for i := range ids {
		ids[i] = hypercoretest.NewID("cg")
		spec := hypercore.MachineSpec{Name: "cg", RootFS: hypercoretest.WorkloadRootFS(t),
			Process: hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}}}
		if err := p.Create(context.Background(), ids[i], spec); err != nil {
			t.Fatal(err)
		}
		if err := p.Start(context.Background(), ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	if len(hostcgroup.Leftovers(parent, ids[0], true)) == 0 {
		t.Fatalf("no cgroup dirs under %s while machines run", parent)
	}
	for i, id := range ids {
		if err := p.Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		checkClean(t, p, id)
		left := hostcgroup.Leftovers(parent, id, true)
		if i == 0 && len(left) == 0 {
			t.Errorf("parent %s removed while a machine still uses it", parent)
		}
		if i == 1 && len(left) > 0 {
			t.Errorf("cgroup dirs left after the last delete: %v", left)
		}
	}
	for _, r := range hostcgroup.Roots() {
		top := filepath.Join(r, strings.Split(parent, "/")[1])
		if _, err := os.Stat(top); err == nil {
			t.Errorf("%s left behind", top)
		}
	}
}

// TestDeleteRightAfterStart deletes machines the instant Start returns.
// libcontainer's view of a just-exec'd init can say "stopped", and a Stop
// that trusted it sent no signal and then waited forever on a live
// workload (seen in bench/node); Stop now signals the process it holds.
func TestDeleteRightAfterStart(t *testing.T) {
	p := newTestProvider(t)
	rootfs := hypercoretest.WorkloadRootFS(t)
	for i := 0; i < 10; i++ {
		id := hypercoretest.NewID("sbq")
		spec := hypercore.MachineSpec{RootFS: rootfs}
		spec.Process.Args = []string{hypercoretest.TW, "sleep"}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := p.Create(ctx, id, spec); err != nil {
			cancel()
			t.Fatal(err)
		}
		if err := p.Start(ctx, id); err != nil {
			p.Delete(context.Background(), id)
			cancel()
			t.Fatal(err)
		}
		err := p.Delete(ctx, id)
		cancel()
		if err != nil {
			t.Fatalf("delete %d right after start: %v", i, err)
		}
		checkClean(t, p, id)
	}
}
