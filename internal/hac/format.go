package hac

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Format parses data (any accepted dialect) and re-emits it in the
// canonical dialect and schema order. Values keep the file's spelling
// where it matters (sizes and amounts are written as given); comments are
// not kept. Format(Format(x)) == Format(x).
func Format(filename string, data []byte) ([]byte, error) {
	if _, _, err := Parse(filename, data); err != nil {
		return nil, err
	}
	doc := map[string]any{}
	if err := tomlUnmarshal(data, &doc); err != nil {
		return nil, err
	}
	d := &dialect{file: filename, idx: positions(data)}
	d.rewrite(doc)
	var b bytes.Buffer
	for _, f := range canonical {
		v, ok := doc[f.Key]
		if !ok {
			continue
		}
		switch f.Kind {
		case kTable:
			writeTable(&b, f.Key, v.(map[string]any), f.Children)
		case kTables:
			for _, t := range asTables(v) {
				fmt.Fprintf(&b, "[[%s]]\n", f.Key)
				writeKeys(&b, t, f.Children)
				b.WriteString("\n")
			}
		}
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func writeTable(b *bytes.Buffer, name string, m map[string]any, fs []field) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(b, "[%s]\n", name)
	writeKeys(b, m, fs)
	b.WriteString("\n")
	for _, f := range fs {
		if sub, ok := m[f.Key].(map[string]any); ok && f.Kind == kTable {
			writeTable(b, name+"."+f.Key, sub, f.Children)
		}
	}
}

func writeKeys(b *bytes.Buffer, m map[string]any, fs []field) {
	for _, f := range fs {
		v, ok := m[f.Key]
		if !ok || f.Kind == kTable {
			continue
		}
		fmt.Fprintf(b, "%s = %s\n", f.Key, literal(v, f.Children))
	}
}

func literal(v any, children []field) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		var parts []string
		if len(children) > 0 {
			for _, f := range children {
				if e, ok := x[f.Key]; ok {
					parts = append(parts, f.Key+" = "+literal(e, nil))
				}
			}
		} else {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				parts = append(parts, quoteKey(k)+" = "+literal(x[k], nil))
			}
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = literal(e, children)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []map[string]any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = literal(e, children)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

func quoteKey(k string) string {
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	return k
}
