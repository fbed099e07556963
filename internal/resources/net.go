package resources

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/net"
)

// NIC is one network interface.
type NIC struct {
	Name     string   `json:"name"`
	MAC      string   `json:"mac"`
	Addrs    []string `json:"addrs"` // CIDR notation, as configured
	MTU      int      `json:"mtu"`
	Up       bool     `json:"up"`
	Loopback bool     `json:"loopback"`
	// Virtual is true when no device backs the interface in sysfs
	// (bridges, veths, tunnels, loopback).
	Virtual bool `json:"virtual"`
	// SpeedMbps is the link speed from /sys/class/net/NAME/speed; 0 when
	// the driver does not say (down links, most virtual devices, virtio).
	SpeedMbps int `json:"speed_mbps"`
}

func discoverNICs(ctx context.Context, sysfs string) ([]NIC, error) {
	ifs, err := net.InterfacesWithContext(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NIC, 0, len(ifs))
	for _, in := range ifs {
		n := NIC{Name: in.Name, MAC: in.HardwareAddr, MTU: in.MTU, Addrs: []string{},
			Up: slices.Contains(in.Flags, "up"), Loopback: slices.Contains(in.Flags, "loopback")}
		for _, a := range in.Addrs {
			n.Addrs = append(n.Addrs, a.Addr)
		}
		n.SpeedMbps, n.Virtual = sysNIC(sysfs, in.Name)
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// sysNIC reads what gopsutil does not: the link speed (reading it fails
// with EINVAL on links without one, and gives -1 when unknown) and whether
// a device backs the interface.
func sysNIC(sysfs, name string) (speedMbps int, virtual bool) {
	dir := filepath.Join(sysfs, "class", "net", name)
	if b, err := os.ReadFile(filepath.Join(dir, "speed")); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 {
			speedMbps = v
		}
	}
	_, err := os.Stat(filepath.Join(dir, "device"))
	return speedMbps, err != nil
}
