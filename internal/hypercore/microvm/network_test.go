package microvm

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/hypercoretest"
)

// TestNoEgress: without egress the guest reaches nothing on the host, not
// even the host's loopback through QEMU's gateway address.
func TestNoEgress(t *testing.T) {
	p := newTestProvider(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := hypercoretest.NewID("net")
	spec := hypercore.MachineSpec{
		Name: "net", RootFS: hypercoretest.WorkloadRootFS(t),
		Process:   hypercore.Process{Args: []string{hypercoretest.TW, "dial", "10.0.2.2:" + strconv.Itoa(port)}},
		Resources: hypercore.Resources{MemoryBytes: 64 << 20, Pids: 64},
	}
	if err := p.Create(ctx, id, spec); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Delete(context.Background(), id); err != nil {
			t.Error(err)
		}
		checkClean(t, p, id)
	}()
	if err := p.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	ex, err := p.Wait(ctx, id)
	log := tail(p.path(id, fileLog))
	if err != nil || ex.Code != 1 || !strings.Contains(log, "dial failed") {
		t.Errorf("dial to the host's loopback without egress: exit %+v, %v; log %q", ex, err, log)
	}
}

// TestEgressRefused: egress through QEMU's user networking would reach the
// host's services, so Create refuses it and leaves nothing behind.
func TestEgressRefused(t *testing.T) {
	p, err := New(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := hypercoretest.NewID("egr")
	spec := hypercore.MachineSpec{
		Name: "egr", RootFS: t.TempDir(),
		Process: hypercore.Process{Args: []string{"/bin/true"}},
		Network: hypercore.Network{Egress: true},
	}
	err = p.Create(context.Background(), id, spec)
	if !errors.Is(err, hypercore.ErrInvalid) || !strings.Contains(err.Error(), "egress") {
		t.Fatalf("Create with egress = %v, want ErrInvalid naming egress", err)
	}
	if ids, _ := p.List(context.Background()); len(ids) != 0 {
		t.Errorf("machines left after a refused Create: %v", ids)
	}
}
