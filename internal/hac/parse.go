package hac

import (
	"errors"
	"fmt"
	"os"
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
		return nil, nil, &Error{File: path, Msg: err.Error(), Err: err}
	}
	if fi.Size() > MaxFileSize {
		return nil, nil, &Error{File: path, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", fi.Size(), MaxFileSize)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &Error{File: path, Msg: err.Error(), Err: err}
	}
	return Parse(path, data)
}

// Parse parses a hac.toml held in memory. filename is used in messages and
// to resolve relative image paths. Warnings (legacy dialect keys and their
// canonical names) come back even when there is an error. On error the
// *Spec is nil and the error is an *Error or an Errors, both of which wrap
// hypercore.ErrInvalid.
func Parse(filename string, data []byte) (*Spec, []Warning, error) {
	doc, d, err := decode(filename, data)
	if err != nil {
		return nil, nil, err
	}
	var spec *Spec
	if !d.mixed {
		d.table("", doc, canonical)
		spec = (&builder{checker: d.checker, doc: doc}).build(filename)
	}
	if len(d.errs) > 0 {
		return nil, d.warns, sorted(d.errs)
	}
	return spec, d.warns, nil
}

// decode reads data into a generic document and rewrites legacy dialects
// into canonical keys. Dialect errors are left in the returned checker.
func decode(filename string, data []byte) (map[string]any, *dialect, error) {
	if len(data) > MaxFileSize {
		return nil, nil, &Error{File: filename, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", len(data), MaxFileSize)}
	}
	doc := map[string]any{}
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, nil, decodeError(filename, err)
	}
	d := &dialect{checker: newChecker(filename, positions(data))}
	d.rewrite(doc)
	sort.SliceStable(d.warns, func(i, j int) bool {
		wi, wj := d.warns[i], d.warns[j]
		return wi.Line < wj.Line || wi.Line == wj.Line && wi.Col < wj.Col
	})
	return doc, d, nil
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

// decodeError locates go-toml's error. Decoding into a generic map only
// fails on TOML syntax (and duplicate keys), which go-toml reports as a
// *DecodeError with a position; anything else is kept as a plain
// decode failure without one.
func decodeError(file string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		return &Error{File: file, Line: line, Col: col, Key: strings.Join(de.Key(), "."), Msg: msg}
	}
	return &Error{File: file, Msg: "decoding TOML: " + err.Error()}
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
	nameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (b *builder) build(file string) *Spec {
	s := &Spec{File: file}
	s.Spacecore = Spacecore{Name: b.str("spacecore.name"), Description: b.str("spacecore.description"), Version: b.str("spacecore.version")}
	if _, ok := b.get("spacecore.name"); !ok {
		b.add("spacecore.name", "missing; add [spacecore] name = \"hello\"")
	} else if !nameRE.MatchString(s.Spacecore.Name) {
		b.add("spacecore.name", "%q: want a DNS label: 1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit", s.Spacecore.Name)
	}
	b.image(s, file)
	b.hardware(s)
	b.network(s)
	b.volumes(s)
	b.deploy(s)
	b.secrets(s)
	return s
}

func (b *builder) secrets(s *Spec) {
	s.Secrets.Names = b.strs("secrets.names")
	seen := map[string]bool{}
	for i, n := range s.Secrets.Names {
		p := fmt.Sprintf("secrets.names[%d]", i)
		switch _, clash := s.Image.Env[n]; {
		case !envKeyRE.MatchString(n):
			b.add(p, "%q is not a valid environment variable name", n)
		case seen[n]:
			b.add(p, "%q is listed twice", n)
		case clash:
			b.add(p, "%q is also set in image.env; a secret's value must not be in the file", n)
		}
		seen[n] = true
	}
}
