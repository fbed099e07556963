package hac

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// pos is a 1-based line and column.
type pos struct{ line, col int }

// loc is where a key path appears: the key itself and its value. Errors
// about a value point at the value (hac.toml:12:10), unknown keys at the
// key.
type loc struct{ key, val pos }

// index maps key paths ("hardware.memory", "network.ports[0].port",
// "volumes[1]") to their locations in the document.
type index map[string]loc

// positions indexes data with go-toml's unstable parser. It is best
// effort: a document that go-toml decodes parses here too, and a path it
// cannot place falls back to its nearest ancestor.
func positions(data []byte) index {
	out := index{}
	p := &unstable.Parser{}
	p.Reset(data)
	shape := func(off int) pos {
		sh := p.Shape(unstable.Range{Offset: uint32(off)})
		return pos{sh.Start.Line, sh.Start.Column}
	}
	at := func(n *unstable.Node) (pos, bool) {
		if n == nil || n.Raw.Length == 0 {
			return pos{}, false
		}
		return shape(int(n.Raw.Offset)), true
	}
	set := func(path string, l loc) {
		if _, ok := out[path]; !ok {
			out[path] = l
		}
	}
	// key walks a (possibly dotted) key under prefix, records the implicit
	// parent tables it defines, and returns the full path, the position
	// of its first part and the byte offset just past its last part.
	key := func(prefix string, it unstable.Iterator) (string, pos, int) {
		path, end := prefix, 0
		var first pos
		for it.Next() {
			n := it.Node()
			path = join(path, string(n.Data))
			ps, _ := at(n)
			if first.line == 0 {
				first = ps
			}
			set(path, loc{first, first})
			end = int(n.Raw.Offset + n.Raw.Length)
		}
		return path, first, end
	}
	// valueAt places a value; arrays carry no range in go-toml's AST, so
	// their position is the first non-blank byte after the key's "=".
	valueAt := func(v *unstable.Node, keyEnd int) pos {
		if ps, ok := at(v); ok {
			return ps
		}
		if keyEnd > 0 && keyEnd <= len(data) {
			if i := bytes.IndexByte(data[keyEnd:], '='); i >= 0 {
				j := keyEnd + i + 1
				for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
					j++
				}
				return shape(j)
			}
		}
		return pos{}
	}
	var value func(path string, n *unstable.Node)
	value = func(path string, n *unstable.Node) {
		switch n.Kind {
		case unstable.InlineTable:
			it := n.Children()
			for it.Next() {
				kv := it.Node()
				full, kp, end := key(path, kv.Key())
				out[full] = loc{kp, valueAt(kv.Value(), end)}
				value(full, kv.Value())
			}
		case unstable.Array:
			it := n.Children()
			for i := 0; it.Next(); i++ {
				el := it.Node()
				ep := path + "[" + strconv.Itoa(i) + "]"
				if ps, ok := at(el); ok {
					set(ep, loc{ps, ps})
				}
				value(ep, el)
			}
		}
	}
	var prefix string
	arrays := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			prefix, _, _ = key("", e.Key())
		case unstable.ArrayTable:
			k, kp, _ := key("", e.Key())
			i := arrays[k]
			arrays[k] = i + 1
			prefix = k + "[" + strconv.Itoa(i) + "]"
			out[prefix] = loc{kp, kp}
		case unstable.KeyValue:
			full, kp, end := key(prefix, e.Key())
			out[full] = loc{kp, valueAt(e.Value(), end)}
			value(full, e.Value())
		}
	}
	return out
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// parent strips the last ".key" or "[i]" of path ("" at the top).
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// keyPos finds the key path or its nearest ancestor; {1,1} when nothing
// of it is in the document (e.g. a required table that is missing).
func (idx index) keyPos(path string) pos {
	for ; path != ""; path = parent(path) {
		if l, ok := idx[path]; ok && l.key.line > 0 {
			return l.key
		}
	}
	return pos{1, 1}
}

// valPos is where path's value starts, else keyPos.
func (idx index) valPos(path string) pos {
	if l, ok := idx[path]; ok && l.val.line > 0 {
		return l.val
	}
	return idx.keyPos(path)
}
