package hac

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Two dialects of the original Vistara tools are accepted and rewritten
// into the canonical document before validation, with a warning per key:
//
//	hypercore: [hardware] cores, memory (MB, integer), kernel, drive, ref, interface
//	vimana:    [spacecore] name, container_image, backend;
//	           [resources] cpu, memory, disk; optional [commands] start
type dialect struct {
	file  string
	idx   map[string]pos
	warns []Warning
	errs  Errors
}

func (d *dialect) warn(path, format string, a ...any) {
	p := lookup(d.idx, path)
	d.warns = append(d.warns, Warning{File: d.file, Line: p.line, Col: p.col, Key: path, Msg: fmt.Sprintf(format, a...)})
}

func (d *dialect) fail(path, format string, a ...any) {
	p := lookup(d.idx, path)
	d.errs = append(d.errs, &Error{File: d.file, Line: p.line, Col: p.col, Key: path, Msg: fmt.Sprintf(format, a...)})
}

func table(doc map[string]any, key string) map[string]any {
	m, _ := doc[key].(map[string]any)
	return m
}

func ensure(doc map[string]any, key string) map[string]any {
	if m := table(doc, key); m != nil {
		return m
	}
	m := map[string]any{}
	doc[key] = m
	return m
}

// move renames from.key to to.key, refusing to overwrite a canonical key.
func (d *dialect) move(src map[string]any, srcPath, srcKey string, dst map[string]any, dstPath, dstKey string, v any) {
	if _, clash := dst[dstKey]; clash {
		d.fail(srcPath+"."+srcKey, "both %s.%s and the canonical %s.%s are set; keep only %s.%s", srcPath, srcKey, dstPath, dstKey, dstPath, dstKey)
		delete(src, srcKey)
		return
	}
	dst[dstKey] = v
	delete(src, srcKey)
	d.warn(srcPath+"."+srcKey, "legacy key; write %s.%s instead", dstPath, dstKey)
}

// rewrite converts legacy dialects in doc to canonical form.
func (d *dialect) rewrite(doc map[string]any) {
	hw := table(doc, "hardware")
	if hw != nil && (hw["kernel"] != nil || hw["drive"] != nil || hw["ref"] != nil || hw["interface"] != nil) {
		d.hypercore(doc, hw)
	}
	sc := table(doc, "spacecore")
	if doc["resources"] != nil || doc["commands"] != nil || (sc != nil && (sc["container_image"] != nil || sc["backend"] != nil)) {
		d.vimana(doc, sc)
	}
}

func (d *dialect) hypercore(doc, hw map[string]any) {
	if mb, ok := hw["memory"].(int64); ok {
		hw["memory"] = fmt.Sprintf("%dMiB", mb)
		d.warn("hardware.memory", "hypercore dialect: an integer is MiB here; write hardware.memory = \"%dMiB\"", mb)
	}
	if ref, ok := hw["ref"]; ok {
		d.move(hw, "hardware", "ref", ensure(doc, "image"), "image", "ref", ref)
	}
	for _, k := range []string{"kernel", "drive", "interface"} {
		if _, ok := hw[k]; ok {
			delete(hw, k)
			d.warn("hardware."+k, "hypercore dialect: ignored; Vistara chooses the guest kernel, root drive and network itself (see hardware.isolation)")
		}
	}
	if sc := table(doc, "spacecore"); sc == nil || sc["name"] == nil {
		name := nameFromFile(d.file)
		ensure(doc, "spacecore")["name"] = name
		d.warn("hardware", "hypercore dialect: no spacecore.name; using %q (write [spacecore] name = %q)", name, name)
	}
}

var backends = map[string]string{
	"runc": "sandbox", "containerd": "sandbox", "docker": "sandbox", "sandbox": "sandbox",
	"gvisor": "gvisor", "runsc": "gvisor",
	"firecracker": "microvm", "microvm": "microvm", "qemu": "microvm", "cloud-hypervisor": "microvm",
}

func (d *dialect) vimana(doc, sc map[string]any) {
	if sc != nil {
		if ci, ok := sc["container_image"]; ok {
			d.move(sc, "spacecore", "container_image", ensure(doc, "image"), "image", "ref", ci)
		}
		if b, ok := sc["backend"]; ok {
			s, _ := b.(string)
			iso, known := backends[strings.ToLower(s)]
			if !known {
				d.fail("spacecore.backend", "unknown backend %q (known: runc, containerd, gvisor, firecracker, qemu)", s)
			} else {
				d.move(sc, "spacecore", "backend", ensure(doc, "hardware"), "hardware", "isolation", iso)
			}
		}
	}
	if res := table(doc, "resources"); res != nil {
		hw := ensure(doc, "hardware")
		for _, kv := range [][2]string{{"cpu", "cores"}, {"memory", "memory"}, {"disk", "disk"}} {
			if v, ok := res[kv[0]]; ok {
				d.move(res, "resources", kv[0], hw, "hardware", kv[1], v)
			}
		}
		for k := range res {
			d.fail("resources."+k, "unknown key in the vimana [resources] dialect (known: cpu, memory, disk)")
		}
		delete(doc, "resources")
	}
	if cmds := table(doc, "commands"); cmds != nil {
		if start, ok := cmds["start"]; ok {
			var argv []any
			switch s := start.(type) {
			case string:
				for _, f := range strings.Fields(s) {
					argv = append(argv, f)
				}
			case []any:
				argv = s
			}
			d.move(cmds, "commands", "start", ensure(doc, "image"), "image", "command", argv)
		}
		for k := range cmds {
			d.warn("commands."+k, "vimana dialect: only commands.start is used (as image.command); ignored")
		}
		delete(doc, "commands")
	}
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

func nameFromFile(file string) string {
	base := "spacecore"
	if file != "" {
		if abs, err := filepath.Abs(file); err == nil {
			base = filepath.Base(filepath.Dir(abs))
		}
	}
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if n == "" {
		n = "spacecore"
	}
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}
