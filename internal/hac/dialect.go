package hac

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Two dialects of the original Vistara tools are accepted and rewritten
// into the canonical document before validation, with a warning per key
// naming its canonical replacement:
//
//	hypercore: [spacecore] name, description
//	           [hardware] cores, memory (integer MB), kernel, drive, ref, interface
//	vimana:    [spacecore] name, description, version, container_image, backend
//	           [resources] cpu, memory, disk; optional [commands] start, stop, status, logs
//
// A dialect is recognised by keys only it has (hypercore: hardware.kernel,
// drive, ref, interface; vimana: [resources], [commands],
// spacecore.container_image, backend). Using both dialects in one file,
// or a legacy key together with its canonical key, is an error: which one
// wins would be a guess.
type dialect struct {
	*checker
	warns []Warning
	// mixed is set when both dialects are used: nothing else is checked,
	// since every later message would depend on which one was meant.
	mixed bool
}

func (d *dialect) warn(path, format string, a ...any) {
	p := d.idx.keyPos(path)
	d.warns = append(d.warns, Warning{File: d.file, Line: p.line, Col: p.col, Key: path, Msg: fmt.Sprintf(format, a...)})
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

// move renames srcPath.srcKey to dstPath.dstKey, refusing to overwrite a
// canonical key. Later errors about the value name the legacy key.
func (d *dialect) move(src map[string]any, srcPath, srcKey string, dst map[string]any, dstPath, dstKey string, v any) *Warning {
	from, to := srcPath+"."+srcKey, dstPath+"."+dstKey
	delete(src, srcKey)
	if _, clash := dst[dstKey]; clash {
		d.addKey(from, "both %s and the canonical %s are set; keep only %s", from, to, to)
		return nil
	}
	dst[dstKey] = v
	d.alias[to] = from
	d.warn(from, "legacy key; write %s instead", to)
	return &d.warns[len(d.warns)-1]
}

// marker returns the first key (in document order) that marks a dialect.
func (d *dialect) marker(doc map[string]any, paths ...string) string {
	best, bp := "", pos{}
	for _, p := range paths {
		tbl, key, _ := strings.Cut(p, ".")
		present := doc[tbl] != nil
		if key != "" {
			_, present = table(doc, tbl)[key]
		}
		if !present {
			continue
		}
		if q := d.idx.keyPos(p); best == "" || q.line < bp.line || q.line == bp.line && q.col < bp.col {
			best, bp = p, q
		}
	}
	return best
}

// rewrite converts legacy dialects in doc to canonical form.
func (d *dialect) rewrite(doc map[string]any) {
	hc := d.marker(doc, "hardware.kernel", "hardware.drive", "hardware.ref", "hardware.interface")
	vm := d.marker(doc, "resources", "commands", "spacecore.container_image", "spacecore.backend")
	switch {
	case hc != "" && vm != "":
		d.addKey(vm, "%s belongs to the vimana dialect and %s to the hypercore dialect; use one dialect, or better the canonical keys (docs/hac.md)", show(vm), hc)
		d.mixed = true
		return
	case hc != "":
		d.hypercore(doc, table(doc, "hardware"))
	case vm != "":
		d.vimana(doc)
	default:
		return
	}
	d.legacyName(doc, hc+vm)
}

func (d *dialect) hypercore(doc, hw map[string]any) {
	if mb, ok := hw["memory"].(int64); ok {
		hw["memory"] = fmt.Sprintf("%dMiB", mb)
		d.warn("hardware.memory", "hypercore dialect: an integer is MB here; write hardware.memory = \"%dMiB\"", mb)
	}
	if ref, ok := hw["ref"]; ok {
		d.move(hw, "hardware", "ref", ensure(doc, "image"), "image", "ref", ref)
	} else if _, ok := table(doc, "image")["ref"]; !ok {
		at := d.marker(doc, "hardware.kernel", "hardware.drive", "hardware.interface")
		d.at("image.ref", d.idx.keyPos(at), "missing: the hypercore dialect's kernel and drive are not used, so name an OCI image with [image] ref (or hardware.ref)")
	}
	for _, k := range []string{"kernel", "drive", "interface"} {
		if _, ok := hw[k]; ok {
			delete(hw, k)
			d.warn("hardware."+k, "hypercore dialect: ignored; the provider picks the guest kernel, root drive and network device (see hardware.isolation)")
		}
	}
}

// backends maps the vimana dialect's backend to an isolation level. The
// old "binary" backend ran the command on the host; Vistara always
// isolates, so it becomes a sandbox.
var backends = map[string]string{
	"binary": "sandbox", "runc": "sandbox", "containerd": "sandbox", "docker": "sandbox", "sandbox": "sandbox",
	"gvisor": "gvisor", "runsc": "gvisor",
	"firecracker": "microvm", "microvm": "microvm", "qemu": "microvm", "cloud-hypervisor": "microvm",
}

func (d *dialect) vimana(doc map[string]any) {
	_, hadHW := doc["hardware"]
	if sc := table(doc, "spacecore"); sc != nil {
		if ci, ok := sc["container_image"]; ok {
			d.move(sc, "spacecore", "container_image", ensure(doc, "image"), "image", "ref", ci)
		}
		if b, ok := sc["backend"]; ok {
			s, _ := b.(string)
			if iso, known := backends[strings.ToLower(s)]; known {
				if w := d.move(sc, "spacecore", "backend", ensure(doc, "hardware"), "hardware", "isolation", iso); w != nil {
					w.Msg = fmt.Sprintf("legacy key; write hardware.isolation = %q instead", iso)
				}
			} else {
				delete(sc, "backend")
				d.add("spacecore.backend", "%s is not a known backend (binary, containerd, runc, gvisor, firecracker, qemu); write hardware.isolation = \"sandbox\", \"gvisor\" or \"microvm\"", literal(b, nil))
			}
		}
	}
	if raw, ok := doc["resources"]; ok {
		delete(doc, "resources")
		res, isTable := raw.(map[string]any)
		switch {
		case !isTable:
			d.add("resources", "want table, got %s", typeName(raw))
		case hadHW:
			d.addKey("resources", "[resources] (vimana dialect) and [hardware] are both set; move cpu, memory and disk into [hardware] as cores, memory and disk")
		default:
			hw := ensure(doc, "hardware")
			for _, kv := range [][2]string{{"cpu", "cores"}, {"memory", "memory"}, {"disk", "disk"}} {
				if v, ok := res[kv[0]]; ok {
					d.move(res, "resources", kv[0], hw, "hardware", kv[1], v)
				}
			}
			for _, k := range sortedKeys(res) {
				msg := "unknown key in the vimana dialect's [resources]"
				if s := suggest(k, []string{"cpu", "memory", "disk"}); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				d.addKey("resources."+k, "%s", msg)
			}
		}
	}
	if raw, ok := doc["commands"]; ok {
		delete(doc, "commands")
		cmds, isTable := raw.(map[string]any)
		if !isTable {
			d.add("commands", "want table, got %s", typeName(raw))
			return
		}
		if start, ok := cmds["start"]; ok {
			d.start(doc, cmds, start)
		}
		for _, k := range sortedKeys(cmds) {
			d.warn("commands."+k, "vimana dialect: ignored; vimana stops spacecores and reads their status and logs itself (vimana spacecore stop|inspect|logs)")
		}
	}
}

// shellChars are the bytes that make commands.start a shell command line
// rather than a plain argv.
const shellChars = "|&;<>()$`\\\"'*?[]#~=%\n"

// start maps commands.start: an array is the argv; a plain string is
// split on blanks; a string with shell syntax runs under /bin/sh -c (so
// the image needs a shell). Starting docker inside a spacecore cannot
// work, so that is an error rather than a runtime surprise.
func (d *dialect) start(doc, cmds map[string]any, start any) {
	s, isString := start.(string)
	if isString {
		if f := strings.Fields(s); len(f) > 0 && (f[0] == "docker" || f[0] == "podman" || f[0] == "nerdctl") {
			delete(cmds, "start")
			d.add("commands.start", "runs %s, which is not available inside a spacecore; put the image in image.ref, its ports in [network] and its command in image.command", f[0])
			return
		}
		var argv []any
		if strings.ContainsAny(s, shellChars) {
			argv = []any{"/bin/sh", "-c", s}
		} else {
			for _, f := range strings.Fields(s) {
				argv = append(argv, f)
			}
		}
		start = argv
	}
	if w := d.move(cmds, "commands", "start", ensure(doc, "image"), "image", "command", start); w != nil && isString {
		w.Msg = "legacy key; write image.command = " + literal(start, nil) + " instead"
	}
}

// show writes a table path as a table header: "[resources]".
func show(path string) string {
	if !strings.Contains(path, ".") {
		return "[" + path + "]"
	}
	return path
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// legacyName makes the old tools' free-text names ("Test Node") DNS
// labels, and names a file that has none after its directory.
func (d *dialect) legacyName(doc map[string]any, marker string) {
	sc := ensure(doc, "spacecore")
	raw, ok := sc["name"]
	if !ok {
		name := label(filepath.Base(filepath.Dir(absOr(d.file))))
		sc["name"] = name
		d.warn(marker, "no spacecore.name in this legacy file; using %q (write [spacecore] name = %q)", name, name)
		return
	}
	if s, ok := raw.(string); ok && !nameRE.MatchString(s) {
		name := label(s)
		sc["name"] = name
		d.warn("spacecore.name", "legacy dialect: %q is not a DNS label; using %q (write [spacecore] name = %q)", s, name, name)
	}
}

func absOr(file string) string {
	if abs, err := filepath.Abs(file); err == nil && file != "" {
		return abs
	}
	return file
}

// label lowers s and squeezes everything but a-z, 0-9 and '-' into '-'.
func label(s string) string {
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	if n == "" {
		n = "spacecore"
	}
	return n
}
