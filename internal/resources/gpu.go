package resources

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// GPU is one graphics or compute device. Discovery tries, in order, NVML
// (only in binaries built with -tags nvml), nvidia-smi, and the DRM sysfs
// tree; the first that lists NVIDIA devices wins for them, and DRM adds
// AMD and Intel devices. Virtual display adapters (virtio-gpu, bochs, QXL)
// are not GPUs a tenant can use and are left out.
type GPU struct {
	Index         int    `json:"index"` // position in this list (PCI bus order)
	Vendor        string `json:"vendor"`
	Name          string `json:"name"`
	UUID          string `json:"uuid"`
	MemoryBytes   uint64 `json:"memory_bytes"` // 0 when the source does not say
	PCIBus        string `json:"pci_bus"`      // "0000:01:00.0"
	Driver        string `json:"driver"`       // kernel driver, e.g. "nvidia", "amdgpu"
	DriverVersion string `json:"driver_version"`
	Source        string `json:"source"` // "nvml", "nvidia-smi" or "drm"
}

// PCI vendor ids of the GPUs worth offering.
var gpuVendors = map[string]string{"0x10de": "nvidia", "0x1002": "amd", "0x8086": "intel"}

// errAbsent means a GPU source is not built in or not installed: the normal
// state of a machine without GPUs, not a warning.
var errAbsent = errors.New("absent")

// nvidiaSMIQuery is the field list given to nvidia-smi --query-gpu;
// parseNvidiaSMI reads the fields in this order.
const nvidiaSMIQuery = "index,name,uuid,memory.total,pci.bus_id,driver_version"

// discoverGPUs returns the GPUs, one line per source saying what it found
// (Report.GPUSources) and warnings for sources that failed.
func (s Sources) discoverGPUs(ctx context.Context) (gpus []GPU, sources, warns []string) {
	var nvidia []GPU
	note := func(src string, n int, err error) {
		switch {
		case errors.Is(err, errAbsent):
			sources = append(sources, src+": "+err.Error())
		case err != nil:
			sources = append(sources, src+": failed")
			warns = append(warns, "gpu: "+src+": "+err.Error())
		default:
			sources = append(sources, fmt.Sprintf("%s: %d GPU(s)", src, n))
		}
	}
	if s.NoNVML {
		sources = append(sources, "nvml: skipped")
	} else {
		var err error
		nvidia, err = nvmlGPUs(ctx)
		note("nvml", len(nvidia), err)
	}
	switch {
	case s.NvidiaSMI == "-":
		sources = append(sources, "nvidia-smi: skipped")
	case len(nvidia) > 0:
		sources = append(sources, "nvidia-smi: not needed (nvml answered)")
	default:
		var err error
		nvidia, err = runNvidiaSMI(ctx, s.NvidiaSMI)
		note("nvidia-smi", len(nvidia), err)
	}
	gpus = append(gpus, nvidia...)
	drm, err := drmGPUs(s.SysFS)
	note("drm", len(drm), err)
	seen := map[string]bool{}
	for _, g := range nvidia {
		seen[g.PCIBus] = true
	}
	for _, g := range drm {
		if !seen[g.PCIBus] {
			gpus = append(gpus, g)
		}
	}
	sort.SliceStable(gpus, func(i, j int) bool { return gpus[i].PCIBus < gpus[j].PCIBus })
	for i := range gpus {
		gpus[i].Index = i
	}
	return gpus, sources, warns
}

// normBus writes a PCI address the way sysfs does: lowercase, with a
// 4-digit domain (nvidia-smi and NVML print 8 digits).
func normBus(bus string) string {
	bus = strings.ToLower(strings.TrimSpace(bus))
	if dom, rest, ok := strings.Cut(bus, ":"); ok && len(dom) > 4 && strings.Count(rest, ":") == 1 {
		bus = dom[len(dom)-4:] + ":" + rest
	}
	return bus
}

func runNvidiaSMI(ctx context.Context, cmd string) ([]GPU, error) {
	path, err := exec.LookPath(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %s not found", errAbsent, cmd)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--query-gpu="+nvidiaSMIQuery, "--format=csv,noheader,nounits").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, err
	}
	return parseNvidiaSMI(string(out))
}

// parseNvidiaSMI reads `nvidia-smi --query-gpu=<nvidiaSMIQuery>
// --format=csv,noheader,nounits`. Names are not quoted and may hold commas,
// so the name is everything between the first field and the last four.
func parseNvidiaSMI(out string) ([]GPU, error) {
	var gpus []GPU
	sc := bufio.NewScanner(strings.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 6 {
			return nil, fmt.Errorf("line %d: %d fields, want 6: %q", n, len(f), line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		k := len(f)
		g := GPU{Vendor: "nvidia", Name: strings.Join(f[1:k-4], ","), UUID: known(f[k-4]),
			PCIBus: normBus(f[k-2]), Driver: "nvidia", DriverVersion: known(f[k-1]), Source: "nvidia-smi"}
		if mib, err := strconv.ParseUint(f[k-3], 10, 64); err == nil {
			g.MemoryBytes = mib << 20
		}
		gpus = append(gpus, g)
	}
	return gpus, sc.Err()
}

// known maps nvidia-smi's "[N/A]" and friends to "".
func known(s string) string {
	if strings.HasPrefix(s, "[") {
		return ""
	}
	return s
}

var cardRE = regexp.MustCompile(`^card[0-9]+$`)

// drmGPUs lists /sys/class/drm/cardN devices of known GPU vendors.
func drmGPUs(sysfs string) ([]GPU, error) {
	entries, err := os.ReadDir(filepath.Join(sysfs, "class", "drm"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s", errAbsent, filepath.Join(sysfs, "class", "drm"))
	} else if err != nil {
		return nil, err
	}
	var gpus []GPU
	seen := map[string]bool{}
	for _, e := range entries {
		if !cardRE.MatchString(e.Name()) {
			continue // connectors (card0-HDMI-A-1), render nodes
		}
		dev := filepath.Join(sysfs, "class", "drm", e.Name(), "device")
		vendor := readTrim(filepath.Join(dev, "vendor"))
		name, ok := gpuVendors[strings.ToLower(vendor)]
		if !ok {
			continue
		}
		uevent := readUevent(filepath.Join(dev, "uevent"))
		bus := uevent["PCI_SLOT_NAME"]
		if bus == "" {
			if target, err := os.Readlink(dev); err == nil {
				bus = filepath.Base(target) // ../../../0000:03:00.0
			}
		}
		bus = normBus(bus)
		if seen[bus] {
			continue
		}
		seen[bus] = true
		g := GPU{Vendor: name, PCIBus: bus, Driver: uevent["DRIVER"], Source: "drm",
			Name: fmt.Sprintf("%s device %s", name, readTrim(filepath.Join(dev, "device")))}
		if v, err := strconv.ParseUint(readTrim(filepath.Join(dev, "mem_info_vram_total")), 10, 64); err == nil {
			g.MemoryBytes = v // amdgpu only
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readUevent(path string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(readTrim(path), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}
