package hac

import (
	"fmt"
	"path"
)

func (b *builder) hardware(s *Spec) {
	h := Hardware{MilliCPU: DefaultMilliCPU, Memory: DefaultMemory, Disk: DefaultDisk, Pids: DefaultPids, Isolation: "sandbox"}
	if v, ok := b.get("hardware.cores"); ok {
		h.MilliCPU, _ = parseCores(v)
	}
	if v, ok := b.get("hardware.memory"); ok {
		h.Memory, _ = parseSize(v)
		if h.Memory < 4<<20 {
			msg := fmt.Sprintf("%d bytes is less than the minimum of 4MiB", h.Memory)
			if n, isInt := v.(int64); isInt && n > 0 {
				msg += fmt.Sprintf(" (a plain integer is bytes; did you mean \"%dMiB\"?)", n)
			}
			b.add("hardware.memory", "%s", msg)
		}
		if h.Memory > 1<<40 {
			b.add("hardware.memory", "more than the limit of 1TiB")
		}
	}
	if v, ok := b.get("hardware.disk"); ok {
		h.Disk, _ = parseSize(v)
		if h.Disk < 1<<20 {
			b.add("hardware.disk", "%d bytes is less than the minimum of 1MiB", h.Disk)
		}
	}
	if v, ok := b.get("hardware.bandwidth"); ok {
		h.Bandwidth, _ = parseBandwidth(v)
	}
	h.Pids = b.int("hardware.pids", DefaultPids)
	if h.Pids < 8 || h.Pids > 1<<20 {
		b.add("hardware.pids", "%d is outside 8-1048576", h.Pids)
	}
	if iso := b.str("hardware.isolation"); iso != "" {
		h.Isolation = iso
	}
	h.GPU.Count = int(b.int("hardware.gpu.count", 0))
	h.GPU.Vendor = b.str("hardware.gpu.vendor")
	h.GPU.Model = b.str("hardware.gpu.model")
	if v, ok := b.get("hardware.gpu.memory"); ok {
		h.GPU.Memory, _ = parseSize(v)
	}
	if h.GPU.Count < 0 || h.GPU.Count > 16 {
		b.add("hardware.gpu.count", "%d is outside 0-16", h.GPU.Count)
	}
	if h.GPU.Count == 0 && (h.GPU.Vendor != "" || h.GPU.Model != "" || h.GPU.Memory != 0) {
		b.add("hardware.gpu", "vendor, model or memory given but count is 0")
	}
	s.Hardware = h
}

func (b *builder) network(s *Spec) {
	n := Network{Egress: true}
	if v, ok := b.get("network.egress"); ok {
		n.Egress, _ = v.(bool)
	}
	raw, _ := b.get("network.ports")
	seenPort := map[string]bool{}
	seenHost := map[string]bool{}
	for i, t := range asTables(raw) {
		p := fmt.Sprintf("network.ports[%d]", i)
		port := Port{Protocol: "tcp"}
		if v, ok := t["port"].(int64); ok {
			port.Port = int(v)
		} else {
			b.add(p, "port is required")
			continue
		}
		if pr, ok := t["protocol"].(string); ok {
			port.Protocol = pr
		}
		if hp, ok := t["host_port"].(int64); ok {
			port.HostPort = int(hp)
		}
		if port.Port < 1 || port.Port > 65535 {
			b.add(p+".port", "%d is outside 1-65535", port.Port)
		}
		if _, set := t["host_port"]; set && (port.HostPort < 1 || port.HostPort > 65535) {
			b.add(p+".host_port", "%d is outside 1-65535", port.HostPort)
		}
		key := fmt.Sprintf("%d/%s", port.Port, port.Protocol)
		if seenPort[key] {
			b.add(p+".port", "%s is published twice", key)
		}
		seenPort[key] = true
		if port.HostPort != 0 {
			hk := fmt.Sprintf("%d/%s", port.HostPort, port.Protocol)
			if seenHost[hk] {
				b.add(p+".host_port", "host port %s is used twice", hk)
			}
			seenHost[hk] = true
		}
		n.Ports = append(n.Ports, port)
	}
	s.Network = n
}

func (b *builder) volumes(s *Spec) {
	raw, _ := b.get("volumes")
	names, paths := map[string]bool{}, map[string]bool{}
	for i, t := range asTables(raw) {
		p := fmt.Sprintf("volumes[%d]", i)
		v := Volume{}
		v.Name, _ = t["name"].(string)
		v.Path, _ = t["path"].(string)
		if sz, ok := t["size"]; ok {
			v.Size, _ = parseSize(sz)
		}
		switch {
		case v.Name == "":
			b.add(p, "name is required")
		case !nameRE.MatchString(v.Name):
			b.add(p+".name", "%q: want 1-63 of a-z, 0-9 and '-'", v.Name)
		case names[v.Name]:
			b.add(p+".name", "volume %q is defined twice", v.Name)
		}
		switch {
		case v.Path == "":
			b.add(p, "path is required")
		case !path.IsAbs(v.Path) || path.Clean(v.Path) == "/":
			b.add(p+".path", "%q must be an absolute path other than /", v.Path)
		case paths[path.Clean(v.Path)]:
			b.add(p+".path", "%q is mounted twice", v.Path)
		}
		names[v.Name], paths[path.Clean(v.Path)] = true, true
		s.Volumes = append(s.Volumes, v)
	}
}

func (b *builder) deploy(s *Spec) {
	d := Deploy{Replicas: int(b.int("deploy.replicas", 1)), Restart: DefaultRestart,
		Regions: b.strs("deploy.regions"), Attributes: b.strMap("deploy.attributes")}
	if d.Replicas < 1 || d.Replicas > 100 {
		b.add("deploy.replicas", "%d is outside 1-100", d.Replicas)
	}
	if v, ok := b.get("deploy.max_price"); ok {
		d.MaxPrice, _ = parseTokens(v)
	}
	if v, ok := b.get("deploy.deposit"); ok {
		d.Deposit, _ = parseTokens(v)
	}
	if r := b.str("deploy.restart"); r != "" {
		d.Restart = r
	}
	s.Deploy = d
}
