package hac

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// pos is a 1-based line and column.
type pos struct{ line, col int }

// positions maps key paths ("network.ports[0].port", "volumes[1]") to
// where the key appears. It is best effort: a document that go-toml
// decodes always parses here too.
func positions(data []byte) map[string]pos {
	out := map[string]pos{}
	p := &unstable.Parser{}
	p.Reset(data)
	var prefix string
	arrays := map[string]int{}
	at := func(n *unstable.Node) pos {
		if n == nil || n.Raw.Length == 0 && n.Raw.Offset == 0 {
			return pos{}
		}
		sh := p.Shape(n.Raw)
		return pos{sh.Start.Line, sh.Start.Column}
	}
	keyOf := func(it unstable.Iterator) (string, *unstable.Node) {
		var parts []string
		var first *unstable.Node
		for it.Next() {
			n := it.Node()
			if first == nil {
				first = n
			}
			parts = append(parts, string(n.Data))
		}
		return strings.Join(parts, "."), first
	}
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		return a + "." + b
	}
	var value func(path string, n *unstable.Node)
	value = func(path string, n *unstable.Node) {
		switch n.Kind {
		case unstable.InlineTable:
			it := n.Children()
			for it.Next() {
				kv := it.Node()
				k, first := keyOf(kv.Key())
				full := join(path, k)
				out[full] = at(first)
				value(full, kv.Value())
			}
		case unstable.Array:
			it := n.Children()
			i := 0
			for it.Next() {
				el := it.Node()
				ep := path + "[" + strconv.Itoa(i) + "]"
				if _, ok := out[ep]; !ok {
					out[ep] = at(el)
				}
				value(ep, el)
				i++
			}
		}
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			k, first := keyOf(e.Key())
			prefix = k
			out[k] = at(first)
		case unstable.ArrayTable:
			k, first := keyOf(e.Key())
			i := arrays[k]
			arrays[k] = i + 1
			prefix = k + "[" + strconv.Itoa(i) + "]"
			out[prefix] = at(first)
			if _, ok := out[k]; !ok {
				out[k] = at(first)
			}
		case unstable.KeyValue:
			k, first := keyOf(e.Key())
			full := join(prefix, k)
			out[full] = at(first)
			value(full, e.Value())
		}
	}
	return out
}

// lookup finds the position of path or of its nearest ancestor.
func lookup(idx map[string]pos, path string) pos {
	for path != "" {
		if p, ok := idx[path]; ok && p.line > 0 {
			return p
		}
		if i := strings.LastIndexAny(path, ".["); i >= 0 {
			path = path[:i]
		} else {
			break
		}
	}
	return pos{}
}
