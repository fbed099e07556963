package hac

import (
	"sort"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// MachineSpec is what a provider needs from this spec. RootFS, Process and
// volume host paths are left for the caller: the image layer merges
// Image.Command/Args/Env with the image config, and the supervisor owns
// where volumes live.
func (s *Spec) MachineSpec() hypercore.MachineSpec {
	ms := hypercore.MachineSpec{
		Name: s.Spacecore.Name,
		Resources: hypercore.Resources{
			MilliCPU: s.Hardware.MilliCPU, MemoryBytes: s.Hardware.Memory, DiskBytes: s.Hardware.Disk,
			Pids: s.Hardware.Pids, GPUs: s.Hardware.GPU.Count,
		},
		Network:   hypercore.Network{Egress: s.Network.Egress},
		Isolation: hypercore.Isolation(s.Hardware.Isolation),
		Labels:    map[string]string{"vimana.name": s.Spacecore.Name},
	}
	for _, p := range s.Network.Ports {
		ms.Network.Ports = append(ms.Network.Ports, hypercore.Port{Port: p.Port, HostPort: p.HostPort, Protocol: p.Protocol})
	}
	for _, v := range s.Volumes {
		ms.Volumes = append(ms.Volumes, hypercore.Volume{Name: v.Name, Path: v.Path})
	}
	return ms
}

// EnvList returns image.env as sorted KEY=VALUE pairs.
func (im Image) EnvList() []string {
	out := make([]string, 0, len(im.Env))
	for k, v := range im.Env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
