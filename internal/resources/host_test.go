package resources

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shirou/gopsutil/v4/disk"
)

func TestFlagsOfInterest(t *testing.T) {
	all := map[string]bool{"fpu": true, "avx2": true, "avx512f": true, "avx512_vnni": true, "aes": true,
		"svm": true, "hypervisor": true, "sse4_2": true, "sha_ni": true}
	want := []string{"aes", "avx2", "avx512_vnni", "avx512f", "sha_ni", "svm"}
	if got := flagsOfInterest(all); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestVirtualizationHints(t *testing.T) {
	notDevice := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(notDevice, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		flags  map[string]bool
		kvm    string
		ext    string
		hasKVM bool
		note   string
	}{
		{"kvm device without vmx/svm (kvm-pvm)", map[string]bool{"hypervisor": true}, "/dev/null", "", true, "paravirtual or nested KVM"},
		{"kvm with vmx", map[string]bool{"vmx": true}, "/dev/null", "vmx", true, "presence is not proof"},
		{"svm without device", map[string]bool{"svm": true}, "/nonexistent/kvm", "svm", false, "kvm module not loaded"},
		{"a regular file is not a device", nil, notDevice, "", false, "only use TCG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := discoverVirtualization(context.Background(), tt.flags, tt.kvm)
			if v.HWExtension != tt.ext || v.KVMDevice != tt.hasKVM || !strings.Contains(v.Note, tt.note) {
				t.Errorf("got %+v", v)
			}
			if v.Guest != tt.flags["hypervisor"] {
				t.Errorf("guest = %v", v.Guest)
			}
		})
	}
}

func TestPickMounts(t *testing.T) {
	p := func(dev, mnt, fs string) disk.PartitionStat {
		return disk.PartitionStat{Device: dev, Mountpoint: mnt, Fstype: fs}
	}
	mounts := []disk.PartitionStat{
		p("/dev/vda", "/", "ext4"),
		p("proc", "/proc", "proc"),
		p("tmpfs", "/tmp", "tmpfs"),
		p("/dev/vda", "/etc/hosts", "ext4"), // bind mount of the same device
		p("/dev/vdb1", "/var/lib/vimana", "xfs"),
		p("/dev/loop3", "/snap/core/1", "squashfs"),
		p("server:/export", "/mnt/nfs", "nfs4"),
		p("overlay", "/var/lib/vimana/x/rootfs", "overlay"),
	}
	type got struct {
		mounts []string
		data   int
	}
	tests := []struct {
		dataDir string
		want    got
	}{
		{"/root/.vimana", got{[]string{"/", "/mnt/nfs", "/var/lib/vimana"}, 0}},
		{"/var/lib/vimana", got{[]string{"/", "/mnt/nfs", "/var/lib/vimana"}, 2}},
		{"/var/lib/vimana/home", got{[]string{"/", "/mnt/nfs", "/var/lib/vimana"}, 2}},
		{"/var/lib/vimanax", got{[]string{"/", "/mnt/nfs", "/var/lib/vimana"}, 0}},
		{"/tmp/node1", got{[]string{"/", "/mnt/nfs", "/tmp", "/var/lib/vimana"}, 2}}, // a tmpfs home is shown
	}
	for _, tt := range tests {
		t.Run(tt.dataDir, func(t *testing.T) {
			picked, data := pickMounts(mounts, tt.dataDir)
			var names []string
			for _, m := range picked {
				names = append(names, m.Mountpoint)
			}
			if g := (got{names, data}); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("got %+v, want %+v", g, tt.want)
			}
		})
	}
	if picked, data := pickMounts(nil, "/x"); len(picked) != 0 || data != -1 {
		t.Errorf("no mounts: %v %d", picked, data)
	}
}

func TestSysNIC(t *testing.T) {
	sys := filepath.Join("testdata", "sys")
	for name, want := range map[string]struct {
		speed   int
		virtual bool
	}{
		"eth9": {10000, false}, // 10 GbE with a device
		"eth8": {0, false},     // virtio: speed -1
		"br0":  {0, true},      // bridge: no device
		"lo":   {0, true},      // no speed file (EINVAL on real sysfs)
		"nope": {0, true},
	} {
		speed, virtual := sysNIC(sys, name)
		if speed != want.speed || virtual != want.virtual {
			t.Errorf("%s: speed %d virtual %v, want %+v", name, speed, virtual, want)
		}
	}
}
