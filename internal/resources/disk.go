package resources

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shirou/gopsutil/v4/disk"
)

// Disk is one mounted filesystem worth offering: every block-device or
// network filesystem (one entry per device, at its shortest mount point),
// plus whatever filesystem holds the data directory.
type Disk struct {
	Mount      string `json:"mount"`
	Device     string `json:"device"`
	FSType     string `json:"fstype"`
	TotalBytes uint64 `json:"total_bytes"`
	FreeBytes  uint64 `json:"free_bytes"` // available to unprivileged users
	// Data marks the filesystem holding the node's data directory; its
	// free space is the disk capacity offered to spacecores.
	Data bool `json:"data"`
}

// networkFS are filesystems without a /dev device that still hold data.
var networkFS = map[string]bool{
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "ceph": true,
	"glusterfs": true, "zfs": true, "9p": true, "virtiofs": true,
}

// readOnlyImageFS are block filesystems that are images, not storage.
var readOnlyImageFS = map[string]bool{"squashfs": true, "iso9660": true, "erofs": true}

func storageFS(p disk.PartitionStat) bool {
	if readOnlyImageFS[p.Fstype] {
		return false
	}
	return strings.HasPrefix(p.Device, "/dev/") || networkFS[p.Fstype]
}

// pickMounts chooses the mounts to report from /proc/self/mounts order and
// says which one holds dataDir (-1 if none).
func pickMounts(parts []disk.PartitionStat, dataDir string) ([]disk.PartitionStat, int) {
	// The data mount is the longest mount point that is a prefix of
	// dataDir; among equal ones the last mounted wins (it hides the rest).
	data := -1
	for i, p := range parts {
		if !within(dataDir, p.Mountpoint) {
			continue
		}
		if data < 0 || len(p.Mountpoint) >= len(parts[data].Mountpoint) {
			data = i
		}
	}
	var out []disk.PartitionStat
	byDevice := map[string]int{}
	dataOut := -1
	if data >= 0 {
		out = append(out, parts[data])
		byDevice[parts[data].Device] = 0
		dataOut = 0
	}
	for i, p := range parts {
		if i == data || !storageFS(p) {
			continue
		}
		if j, seen := byDevice[p.Device]; seen {
			if j != dataOut && len(p.Mountpoint) < len(out[j].Mountpoint) {
				out[j] = p
			}
			continue
		}
		byDevice[p.Device] = len(out)
		out = append(out, p)
	}
	var dm disk.PartitionStat
	if dataOut == 0 {
		dm = out[0]
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Mountpoint < out[b].Mountpoint })
	if dataOut < 0 {
		return out, -1
	}
	for i := range out {
		if out[i].Mountpoint == dm.Mountpoint && out[i].Device == dm.Device {
			dataOut = i
		}
	}
	return out, dataOut
}

// within reports whether path is mount or below it.
func within(path, mount string) bool {
	if mount == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == mount || strings.HasPrefix(path, mount+"/")
}

func discoverDisks(ctx context.Context, dataDir string) ([]Disk, error) {
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil && len(parts) == 0 {
		return nil, err
	}
	picked, data := pickMounts(parts, filepath.Clean(dataDir))
	var out []Disk
	var errs []error
	for i, p := range picked {
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", p.Mountpoint, err))
			continue
		}
		out = append(out, Disk{Mount: p.Mountpoint, Device: p.Device, FSType: p.Fstype,
			TotalBytes: u.Total, FreeBytes: u.Free, Data: i == data})
	}
	return out, errors.Join(errs...)
}
