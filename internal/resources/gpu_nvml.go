//go:build cgo && nvml

package resources

import (
	"context"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlGPUs lists NVIDIA GPUs through NVML. The library is loaded with
// dlopen at Init, so a binary built with NVML still runs on machines
// without the NVIDIA driver: Init then fails with LIBRARY_NOT_FOUND.
func nvmlGPUs(ctx context.Context) ([]GPU, error) {
	if ret := nvml.Init(); ret == nvml.ERROR_LIBRARY_NOT_FOUND {
		return nil, fmt.Errorf("%w: libnvidia-ml.so.1 not found", errAbsent)
	} else if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("init: %s", nvml.ErrorString(ret))
	}
	defer nvml.Shutdown()
	driver, _ := nvml.SystemGetDriverVersion()
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("device count: %s", nvml.ErrorString(ret))
	}
	var gpus []GPU
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("device %d: %s", i, nvml.ErrorString(ret))
		}
		g := GPU{Vendor: "nvidia", Driver: "nvidia", DriverVersion: driver, Source: "nvml"}
		g.Name, _ = d.GetName()
		g.UUID, _ = d.GetUUID()
		if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			g.MemoryBytes = m.Total
		}
		if p, ret := d.GetPciInfo(); ret == nvml.SUCCESS {
			g.PCIBus = normBus(cString(p.BusId[:]))
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}

func cString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
