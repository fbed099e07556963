package firecracker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

// fakeAPI is a Firecracker API server on a unix socket that records every
// request and answers like Firecracker: 204 for accepted PUTs, 400 with a
// fault_message for bad ones, and InstanceInfo for GET /.
type fakeAPI struct {
	mu      sync.Mutex
	calls   []call
	started bool
}

type call struct {
	Method, Path, ContentType string
	Body                      map[string]any
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c := call{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type")}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &c.Body); err != nil {
			fault(w, "bad json: "+err.Error())
			return
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	started := f.started
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		state := "Not started"
		if started {
			state = "Running"
		}
		json.NewEncoder(w).Encode(InstanceInfo{AppName: "Firecracker", ID: "anonymous-instance", State: state, VMMVersion: "1.7.0"})
	case r.Method != http.MethodPut:
		fault(w, "method not allowed")
	case r.URL.Path == "/actions":
		switch c.Body["action_type"] {
		case "InstanceStart":
			if started {
				fault(w, "The requested operation is not supported after starting the microVM.")
				return
			}
			f.mu.Lock()
			f.started = true
			f.mu.Unlock()
		case "SendCtrlAltDel":
		default:
			fault(w, "unknown action")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		if started {
			fault(w, "The requested operation is not supported after starting the microVM.")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func fault(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"fault_message": msg})
}

func newFake(t *testing.T) (*fakeAPI, *Client) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fc.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return f, NewClient(sock)
}

func TestClientConfiguresAndStarts(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	steps := []struct {
		do   func() error
		want call
	}{
		{func() error {
			return c.PutBootSource(ctx, BootSource{KernelImagePath: "/k/vmlinux", BootArgs: "console=ttyS0 reboot=k panic=1"})
		}, call{"PUT", "/boot-source", "application/json", map[string]any{"kernel_image_path": "/k/vmlinux", "boot_args": "console=ttyS0 reboot=k panic=1"}}},
		{func() error {
			return c.PutDrive(ctx, Drive{DriveID: "rootfs", PathOnHost: "/img/root.ext4", IsRootDevice: true})
		}, call{"PUT", "/drives/rootfs", "application/json", map[string]any{"drive_id": "rootfs", "path_on_host": "/img/root.ext4", "is_root_device": true, "is_read_only": false}}},
		{func() error {
			return c.PutMachineConfig(ctx, MachineConfig{VCPUCount: 2, MemSizeMiB: 256})
		}, call{"PUT", "/machine-config", "application/json", map[string]any{"vcpu_count": 2.0, "mem_size_mib": 256.0, "smt": false}}},
		{func() error {
			return c.PutNetworkInterface(ctx, NetworkInterface{IfaceID: "eth0", GuestMAC: "AA:FC:00:00:00:01", HostDevName: "tap0"})
		}, call{"PUT", "/network-interfaces/eth0", "application/json", map[string]any{"iface_id": "eth0", "guest_mac": "AA:FC:00:00:00:01", "host_dev_name": "tap0"}}},
		{func() error { return c.InstanceStart(ctx) },
			call{"PUT", "/actions", "application/json", map[string]any{"action_type": "InstanceStart"}}},
		{func() error { return c.SendCtrlAltDel(ctx) },
			call{"PUT", "/actions", "application/json", map[string]any{"action_type": "SendCtrlAltDel"}}},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d (%s): %v", i, s.want.Path, err)
		}
		f.mu.Lock()
		got := f.calls[len(f.calls)-1]
		f.mu.Unlock()
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d: request\n got %+v\nwant %+v", i, got, s.want)
		}
	}
	info, err := c.Describe(ctx)
	if err != nil || info.State != "Running" || info.AppName != "Firecracker" {
		t.Fatalf("Describe = %+v, %v", info, err)
	}
}

func TestClientFault(t *testing.T) {
	_, c := newFake(t)
	ctx := context.Background()
	if err := c.InstanceStart(ctx); err != nil {
		t.Fatal(err)
	}
	err := c.PutMachineConfig(ctx, MachineConfig{VCPUCount: 1, MemSizeMiB: 128})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Path != "/machine-config" || ae.FaultMessage == "" {
		t.Fatalf("config after start: %v, want an APIError with Firecracker's fault message", err)
	}
	if info, err := c.Describe(ctx); err != nil || info.State != "Running" {
		t.Fatalf("Describe = %+v, %v", info, err)
	}
}

func TestClientNoSocket(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "absent.sock"))
	if _, err := c.Describe(context.Background()); err == nil {
		t.Fatal("Describe without a server succeeded")
	}
}
