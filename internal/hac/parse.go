package hac

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// MaxFileSize bounds a hac.toml; anything larger is refused unread.
const MaxFileSize = 1 << 20

// ParseFile reads and parses path.
func ParseFile(path string) (*Spec, []Warning, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, &Error{File: path, Msg: err.Error()}
	}
	if fi.Size() > MaxFileSize {
		return nil, nil, &Error{File: path, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", fi.Size(), MaxFileSize)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(path, data)
}

// Parse parses a hac.toml held in memory. filename is used in messages and
// to resolve relative image paths. On error the *Spec is nil and the error
// is an *Error or Errors (both wrap hypercore.ErrInvalid).
func Parse(filename string, data []byte) (*Spec, []Warning, error) {
	if len(data) > MaxFileSize {
		return nil, nil, &Error{File: filename, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", len(data), MaxFileSize)}
	}
	doc := map[string]any{}
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, nil, syntaxError(filename, err)
	}
	idx := positions(data)
	d := &dialect{file: filename, idx: idx}
	d.rewrite(doc)
	c := &checker{file: filename, idx: idx, errs: d.errs}
	c.table("", doc, canonical)
	sort.SliceStable(d.warns, func(i, j int) bool {
		wi, wj := d.warns[i], d.warns[j]
		return wi.Line < wj.Line || wi.Line == wj.Line && wi.Col < wj.Col
	})
	b := &builder{checker: c, doc: doc}
	spec := b.build(filename)
	if len(c.errs) > 0 {
		return nil, d.warns, sorted(c.errs)
	}
	return spec, d.warns, nil
}

func sorted(es Errors) error {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Col < es[j].Col
	})
	if len(es) == 1 {
		return es[0]
	}
	return es
}

func syntaxError(file string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		return &Error{File: file, Line: line, Col: col, Key: strings.Join(de.Key(), "."), Msg: msg}
	}
	return &Error{File: file, Msg: err.Error()}
}

// builder reads the checked document into a Spec and applies the rules
// that need more than a type: required keys, ranges, uniqueness.
type builder struct {
	*checker
	doc map[string]any
}

func (b *builder) get(path string) (any, bool) {
	var cur any = b.doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func (b *builder) str(path string) string {
	v, _ := b.get(path)
	s, _ := v.(string)
	return s
}

func (b *builder) strs(path string) []string {
	v, _ := b.get(path)
	return toStrings(v)
}

func toStrings(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, e := range arr {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func (b *builder) strMap(path string) map[string]string {
	v, _ := b.get(path)
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, e := range m {
		out[k], _ = e.(string)
	}
	return out
}

func (b *builder) int(path string, def int64) int64 {
	v, ok := b.get(path)
	if !ok {
		return def
	}
	n, _ := v.(int64)
	return n
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (b *builder) build(file string) *Spec {
	s := &Spec{File: file}
	s.Spacecore = Spacecore{Name: b.str("spacecore.name"), Description: b.str("spacecore.description"), Version: b.str("spacecore.version")}
	if _, ok := b.get("spacecore.name"); !ok {
		b.add("spacecore", "spacecore.name is required")
	} else if !nameRE.MatchString(s.Spacecore.Name) {
		b.add("spacecore.name", "%q: want 1-63 of a-z, 0-9 and '-', starting with a letter or digit", s.Spacecore.Name)
	}
	b.image(s, file)
	b.hardware(s)
	b.network(s)
	b.volumes(s)
	b.deploy(s)
	s.Secrets.Names = b.strs("secrets.names")
	seen := map[string]bool{}
	for i, n := range s.Secrets.Names {
		p := fmt.Sprintf("secrets.names[%d]", i)
		if !envKeyRE.MatchString(n) {
			b.add(p, "%q is not a valid environment variable name", n)
		}
		if seen[n] {
			b.add(p, "%q is listed twice", n)
		}
		if _, clash := s.Image.Env[n]; clash {
			b.add(p, "%q is also set in image.env; a secret's value must not be in the file", n)
		}
		seen[n] = true
	}
	return s
}

func (b *builder) image(s *Spec, file string) {
	im := Image{Ref: b.str("image.ref"), Command: b.strs("image.command"), Args: b.strs("image.args"),
		Env: b.strMap("image.env"), Workdir: b.str("image.workdir"), User: b.str("image.user")}
	if _, ok := b.get("image.ref"); !ok {
		b.add("image", "image.ref is required")
	} else if strings.TrimSpace(im.Ref) == "" {
		b.add("image.ref", "must not be empty")
	}
	im.Ref = resolveRef(im.Ref, file)
	for k := range im.Env {
		if !envKeyRE.MatchString(k) {
			b.add("image.env."+k, "%q is not a valid environment variable name", k)
		}
	}
	if im.Workdir != "" && !path.IsAbs(im.Workdir) {
		b.add("image.workdir", "%q must be an absolute path", im.Workdir)
	}
	if im.User != "" && !regexp.MustCompile(`^[0-9]+(:[0-9]+)?$`).MatchString(im.User) {
		b.add("image.user", "%q: want a numeric uid[:gid]", im.User)
	}
	s.Image = im
}

// resolveRef makes oci-layout:/docker-archive: paths absolute, relative to
// the hac.toml's directory. Paths are not checked here.
func resolveRef(ref, file string) string {
	for _, prefix := range []string{"oci-layout:", "docker-archive:"} {
		rest, ok := strings.CutPrefix(ref, prefix)
		if !ok || rest == "" || filepath.IsAbs(rest) {
			continue
		}
		dir := "."
		if file != "" {
			dir = filepath.Dir(file)
		}
		if abs, err := filepath.Abs(filepath.Join(dir, rest)); err == nil {
			return prefix + abs
		}
	}
	return ref
}

func tomlUnmarshal(data []byte, v any) error { return toml.Unmarshal(data, v) }
