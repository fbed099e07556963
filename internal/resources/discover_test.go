package resources

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// TestDiscoverHere reads this machine; it checks shape and sanity, not
// values, and uses the fake sysfs and nvidia-smi so GPUs are exercised.
func TestDiscoverHere(t *testing.T) {
	home := t.TempDir()
	r, err := Sources{
		SysFS:     filepath.Join("testdata", "sys"),
		NvidiaSMI: fakeNvidiaSMI(t, readTestdata(t, "nvidia-smi/two-gpus.csv"), 0),
		NoNVML:    true,
		DataDir:   home,
	}.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.CPU.LogicalCores < 1 || r.CPU.PhysicalCores < 1 || r.CPU.PhysicalCores > r.CPU.LogicalCores || r.CPU.Arch == "" {
		t.Errorf("cpu: %+v", r.CPU)
	}
	if r.Memory.TotalBytes == 0 || r.Memory.AvailableBytes > r.Memory.TotalBytes {
		t.Errorf("memory: %+v", r.Memory)
	}
	d, ok := r.DataDisk()
	if !ok || d.TotalBytes == 0 || !within(home, d.Mount) {
		t.Errorf("data disk for %s: %+v %v (disks %+v)", home, d, ok, r.Disks)
	}
	if len(r.NICs) == 0 {
		t.Errorf("no network interfaces")
	}
	if len(r.GPUs) != 4 {
		t.Errorf("gpus: %+v", r.GPUs)
	}
	c := r.Capacity()
	if c.MilliCPU != int64(r.CPU.LogicalCores)*1000 || c.MemoryBytes <= 0 || c.DiskBytes != int64(d.FreeBytes) || c.GPUs != 4 {
		t.Errorf("capacity %+v from %+v", c, r)
	}
	if r.Virtualization.Note == "" {
		t.Errorf("virtualization without a note: %+v", r.Virtualization)
	}
	t.Logf("cpu %q %d/%d cores, %d MiB, virt %+v, warnings %q", r.CPU.Model, r.CPU.PhysicalCores, r.CPU.LogicalCores,
		r.Memory.TotalBytes>>20, r.Virtualization, r.Warnings)
}

// TestReportJSONKeys pins the JSON shape: an empty report has every key,
// and lists are [] rather than null.
func TestReportJSONKeys(t *testing.T) {
	var r Report
	r.normalize()
	r.Disks = []Disk{{}}
	r.NICs = []NIC{{Addrs: []string{}}}
	r.GPUs = []GPU{{}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"":               {"cpu", "disks", "gpu_sources", "gpus", "host", "memory", "nics", "virtualization", "warnings"},
		"host":           {"hostname", "kernel_version", "os", "platform", "platform_version"},
		"cpu":            {"arch", "flags", "kernel_arch", "logical_cores", "mhz", "model", "physical_cores", "sockets", "vendor"},
		"memory":         {"available_bytes", "swap_total_bytes", "total_bytes"},
		"disks":          {"data", "device", "free_bytes", "fstype", "mount", "total_bytes"},
		"nics":           {"addrs", "loopback", "mac", "mtu", "name", "speed_mbps", "up", "virtual"},
		"gpus":           {"driver", "driver_version", "index", "memory_bytes", "name", "pci_bus", "source", "uuid", "vendor"},
		"virtualization": {"guest", "hw_extension", "kvm_device", "note", "system"},
	}
	for section, keys := range want {
		obj := m
		if section != "" {
			switch v := m[section].(type) {
			case map[string]any:
				obj = v
			case []any:
				obj = v[0].(map[string]any)
			}
		}
		var got []string
		for k := range obj {
			got = append(got, k)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, keys) {
			t.Errorf("%q keys = %v, want %v", section, got, keys)
		}
	}
	var empty Report
	empty.normalize()
	b, _ = json.Marshal(empty)
	var m2 map[string]any
	json.Unmarshal(b, &m2)
	for _, k := range []string{"disks", "nics", "gpus", "gpu_sources", "warnings"} {
		if m2[k] == nil {
			t.Errorf("%s is null in an empty report", k)
		}
	}
}
