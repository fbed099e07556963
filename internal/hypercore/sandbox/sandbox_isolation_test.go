package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// run starts a machine running tw args with network settings, waits for it
// to exit and returns its exit code and log.
func runTW(t *testing.T, p *Provider, nw hypercore.Network, res hypercore.Resources, args ...string) (hypercore.ExitStatus, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := hypercoretest.NewID("iso")
	spec := hypercore.MachineSpec{
		Name: "iso", RootFS: hypercoretest.WorkloadRootFS(t),
		Process:   hypercore.Process{Args: append([]string{hypercoretest.TW}, args...)},
		Resources: res, Network: nw,
	}
	if err := p.Create(ctx, id, spec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Delete(context.Background(), id); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
			t.Errorf("Delete: %v", err)
		}
		checkClean(t, p, id)
	})
	if err := p.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ex, err := p.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	rc, _ := p.Logs(ctx, id, hypercore.LogOptions{})
	var b strings.Builder
	if rc != nil {
		buf := make([]byte, 64<<10)
		n, _ := rc.Read(buf)
		b.Write(buf[:n])
		rc.Close()
	}
	return ex, b.String()
}

// hostListener listens on addr on the host and answers every connection.
func hostListener(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	return l.Addr().(*net.TCPAddr).Port
}

// hostListener6 listens on [::]:0 when the host has IPv6, else returns 0.
func hostListener6(t *testing.T) int {
	l, err := net.Listen("tcp6", "[::]:0")
	if err != nil {
		return 0
	}
	t.Cleanup(func() { l.Close() })
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	return l.Addr().(*net.TCPAddr).Port
}

// bridgeLinkLocal checks that the bridge has no IPv6 address and returns
// the EUI-64 link-local address it would have.
func bridgeLinkLocal(t *testing.T, p *Provider) string {
	br, err := netlink.LinkByName(p.net.Bridge())
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _ := netlink.AddrList(br, netlink.FAMILY_V6); len(addrs) > 0 {
		t.Errorf("bridge %s has IPv6 addresses %v: the IPv4 firewall does not cover them", p.net.Bridge(), addrs)
	}
	mac := br.Attrs().HardwareAddr
	if len(mac) != 6 {
		t.Fatalf("bridge MAC %v", mac)
	}
	return fmt.Sprintf("fe80::%02x%02x:%02xff:fe%02x:%02x%02x", mac[0]^2, mac[1], mac[2], mac[3], mac[4], mac[5])
}

// hostIP returns a non-loopback address of this host outside the bridge.
func hostIP(t *testing.T, p *Provider) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !p.net.Subnet().Contains(ipn.IP) {
			return ipn.IP.String()
		}
	}
	t.Skip("no non-loopback host address to test against")
	return ""
}

func TestIsolationHostUnreachable(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	port := hostListener(t, "0.0.0.0:0")
	lo := hostListener(t, "127.0.0.1:0")
	egress := hypercore.Network{Egress: true}
	if err := p.net.Ensure(); err != nil {
		t.Fatal(err)
	}
	onBridge := hostListener(t, p.net.Gateway().String()+":0")
	targets := map[string]string{
		"host loopback (container's own lo)": fmt.Sprintf("127.0.0.1:%d", lo),
		"bridge gateway, wildcard listener":  fmt.Sprintf("%s:%d", p.net.Gateway(), port),
		"bridge gateway, bound listener":     fmt.Sprintf("%s:%d", p.net.Gateway(), onBridge),
		"host address":                       fmt.Sprintf("%s:%d", hostIP(t, p), port),
	}

	for name, addr := range targets {
		ex, log := runTW(t, p, egress, hypercore.Resources{}, "dial", addr)
		if ex.Code == 0 {
			t.Errorf("%s %s reachable from a spacecore: %s", name, addr, log)
		}
	}
	// The same listener is reachable from the host: the refusal above is
	// the firewall's doing, not a dead listener.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", hostIP(t, p), port), 2*time.Second)
	if err != nil {
		t.Fatalf("host cannot reach its own listener: %v", err)
	}
	c.Close()
}

// TestIsolationNoIPv6: the firewall is IPv4; with IPv6 link-local
// addresses on the bridge and eth0, a spacecore reached host services on
// [::] at fe80::<bridge>%eth0 (verified before the fix).
func TestIsolationNoIPv6(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	v6 := hostListener6(t)
	if v6 == 0 {
		t.Skip("host has no IPv6")
	}
	id := startTW(t, p, hypercore.MachineSpec{Name: "v6", Network: hypercore.Network{Egress: true}}, "sleep")
	code, out := execOut(t, p, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "cat", "/proc/net/if_inet6"}})
	if code != 0 || strings.Contains(out, "eth0") {
		t.Errorf("eth0 has IPv6 addresses inside the machine (exit %d):\n%s", code, out)
	}
	addr := fmt.Sprintf("[%s%%eth0]:%d", bridgeLinkLocal(t, p), v6)
	if code, out := execOut(t, p, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "dial", addr}}); code == 0 {
		t.Errorf("host reachable over IPv6 at %s: %s", addr, out)
	}
}

func TestIsolationSpacecoresCannotReachEachOther(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	ctx := context.Background()
	id := hypercoretest.NewID("srv")
	spec := hypercore.MachineSpec{
		Name: "srv", RootFS: hypercoretest.WorkloadRootFS(t),
		Process: hypercore.Process{Args: []string{hypercoretest.TW, "http", "8080"}},
		Network: hypercore.Network{Ports: []hypercore.Port{{Port: 8080}}},
	}
	if err := p.Create(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Delete(context.Background(), id); checkClean(t, p, id) })
	if err := p.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := p.State(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// Reachable from the host, by loopback and by the host's address.
	hypercoretest.HTTPGet(t, "127.0.0.1", st.Ports[0].HostPort, 30*time.Second)
	hypercoretest.HTTPGet(t, hostIP(t, p), st.Ports[0].HostPort, 30*time.Second)
	for name, addr := range map[string]string{
		"direct":         st.IP + ":8080",
		"published port": fmt.Sprintf("%s:%d", hostIP(t, p), st.Ports[0].HostPort),
	} {
		ex, log := runTW(t, p, hypercore.Network{Egress: true}, hypercore.Resources{}, "dial", addr)
		if ex.Code == 0 {
			t.Errorf("spacecore reached another spacecore (%s, %s): %s", name, addr, log)
		}
	}
}

// outside makes a network namespace standing for "the internet": a veth
// from the host to it, and a listener inside. It returns the address.
func outside(t *testing.T) string {
	t.Helper()
	name := hypercoretest.NewID("vtout")
	hostEnd, nsEnd := "vo"+name[6:], "vi"+name[6:]
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run("link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hostEnd).Run() })
	run("link", "set", nsEnd, "netns", name)
	// 198.18.0.0/15 is reserved for benchmarking: never routed anywhere.
	octet := 1 + int(name[len(name)-1])%200
	hostAddr := fmt.Sprintf("198.18.%d.1", octet)
	nsAddr := fmt.Sprintf("198.18.%d.2", octet)
	run("addr", "add", hostAddr+"/30", "dev", hostEnd)
	run("link", "set", hostEnd, "up")
	run("-n", name, "addr", "add", nsAddr+"/30", "dev", nsEnd)
	run("-n", name, "link", "set", nsEnd, "up")
	run("-n", name, "route", "add", "default", "via", hostAddr)
	// Listen inside the namespace from a locked thread.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, _ := netns.Get()
		ns, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		netns.Set(ns)
		l, err := net.Listen("tcp4", nsAddr+":9")
		netns.Set(orig)
		runtime.UnlockOSThread()
		if err != nil {
			errc <- err
			return
		}
		t.Cleanup(func() { l.Close() })
		errc <- nil
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return nsAddr + ":9"
}

func TestIsolationEgressOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not installed")
	}
	addr := outside(t)
	if ex, log := runTW(t, p, hypercore.Network{Egress: true}, hypercore.Resources{}, "dial", addr); ex.Code != 0 {
		t.Errorf("egress=true cannot reach %s: %s", addr, log)
	}
	// egress=false with a published port: the machine has a veth, but
	// nothing may leave.
	noEgress := hypercore.Network{Egress: false, Ports: []hypercore.Port{{Port: 8080}}}
	if ex, log := runTW(t, p, noEgress, hypercore.Resources{}, "dial", addr); ex.Code == 0 {
		t.Errorf("egress=false reached %s: %s", addr, log)
	}
	// No ports and no egress: loopback only.
	if ex, log := runTW(t, p, hypercore.Network{}, hypercore.Resources{}, "dial", addr); ex.Code == 0 {
		t.Errorf("a machine without network reached %s: %s", addr, log)
	}
}

func TestDiskLimit(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	ex, log := runTW(t, p, hypercore.Network{}, hypercore.Resources{DiskBytes: 8 << 20}, "write", "/fill", "32")
	if ex.Code == 0 || !strings.Contains(log, "no space left") {
		t.Errorf("writing 32 MiB into an 8 MiB disk: exit %+v, log %q", ex, log)
	}
	ex, log = runTW(t, p, hypercore.Network{}, hypercore.Resources{DiskBytes: 8 << 20}, "write", "/fill", "4")
	if ex.Code != 0 {
		t.Errorf("writing 4 MiB into an 8 MiB disk failed: %+v %q", ex, log)
	}
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	port := hostListener(t, "0.0.0.0:0")
	id := hypercoretest.NewID("taken")
	spec := hypercore.MachineSpec{
		Name: "taken", RootFS: hypercoretest.WorkloadRootFS(t),
		Process: hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}},
		Network: hypercore.Network{Ports: []hypercore.Port{{Port: 80, HostPort: port}}},
	}
	err := p.Create(context.Background(), id, spec)
	if !errors.Is(err, hypercore.ErrResources) {
		t.Fatalf("Create with a taken host port: %v, want ErrResources", err)
	}
	checkClean(t, p, id)

	// A port another spacecore publishes is taken too, though no host
	// socket binds it (DNAT only).
	first := hypercoretest.NewID("pub")
	spec.Network.Ports = []hypercore.Port{{Port: 80}}
	if err := p.Create(context.Background(), first, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Delete(context.Background(), first); checkClean(t, p, first) })
	st, err := p.State(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	second := hypercoretest.NewID("taken")
	spec.Network.Ports = []hypercore.Port{{Port: 80}, {Port: 81, HostPort: st.Ports[0].HostPort}}
	if err := p.Create(context.Background(), second, spec); !errors.Is(err, hypercore.ErrResources) {
		t.Fatalf("Create with a host port another spacecore publishes: %v, want ErrResources", err)
	}
	checkClean(t, p, second)
}

func TestForkBombHeldByPids(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	ex, log := runTW(t, p, hypercore.Network{}, hypercore.Resources{Pids: 32}, "forkbomb", "1000")
	if ex.Code != 0 || !strings.Contains(log, "forkbomb stopped after") {
		t.Errorf("fork bomb under pids=32: exit %+v, log %q", ex, log)
	}
}

func TestMemoryHogOOMKilled(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	ex, log := runTW(t, p, hypercore.Network{}, hypercore.Resources{MemoryBytes: 32 << 20}, "memhog", "256")
	if !ex.OOMKilled && ex.Code != 137 {
		t.Errorf("memhog 256 MiB under 32 MiB: exit %+v, log %q", ex, log)
	}
}

func TestSeccompBlocksMount(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	ctx := context.Background()
	id := hypercoretest.NewID("sec")
	spec := hypercore.MachineSpec{Name: "sec", RootFS: hypercoretest.WorkloadRootFS(t),
		Process: hypercore.Process{Args: []string{hypercoretest.TW, "sleep"}}}
	if err := p.Create(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Delete(context.Background(), id); checkClean(t, p, id) })
	if err := p.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	// /proc/self/status of a process inside shows the filter and the
	// dropped capabilities.
	var out strings.Builder
	code, err := p.Exec(ctx, id, hypercore.ExecRequest{Args: []string{hypercoretest.TW, "cat", "/proc/self/status"}, Stdout: &out})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v", code, err)
	}
	status := out.String()
	for _, want := range []string{"Seccomp:\t2", "NoNewPrivs:\t1"} {
		if !strings.Contains(status, want) {
			t.Errorf("/proc/self/status lacks %q", want)
		}
	}
	// CAP_SYS_ADMIN is bit 21: the effective set must not have it.
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, "CapEff:") {
			var caps uint64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "CapEff:")), "%x", &caps)
			if caps&(1<<21) != 0 {
				t.Errorf("CAP_SYS_ADMIN is effective: %s", line)
			}
		}
	}
}
