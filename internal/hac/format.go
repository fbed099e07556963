package hac

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Format parses data (any accepted dialect) and re-emits it in the
// canonical dialect: sections and keys in schema order, one table per
// section, ports as inline tables, volumes as [[volumes]]. Values keep the
// file's spelling ("512MB" stays "512MB"; image.ref stays relative);
// legacy keys become their canonical keys. Comments are not kept. The
// result ends in a newline and Format(Format(x)) == Format(x). A file
// that does not validate is not formatted: the error is Parse's.
func Format(filename string, data []byte) ([]byte, error) {
	if _, _, err := Parse(filename, data); err != nil {
		return nil, err
	}
	doc, _, err := decode(filename, data)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, f := range canonical {
		v, ok := doc[f.Key]
		if !ok {
			continue
		}
		switch f.kind {
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
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n'), nil
}

// writeTable writes [name] with its keys, then its sub-tables. A table
// that holds only sub-tables gets no header of its own.
func writeTable(b *bytes.Buffer, name string, m map[string]any, fs []Field) {
	if hasPlainKeys(m, fs) {
		fmt.Fprintf(b, "[%s]\n", name)
		writeKeys(b, m, fs)
		b.WriteString("\n")
	}
	for _, f := range fs {
		if sub, ok := m[f.Key].(map[string]any); ok && f.kind == kTable {
			writeTable(b, name+"."+f.Key, sub, f.Children)
		}
	}
}

func hasPlainKeys(m map[string]any, fs []Field) bool {
	for _, f := range fs {
		if _, ok := m[f.Key]; ok && f.kind != kTable {
			return true
		}
	}
	return false
}

func writeKeys(b *bytes.Buffer, m map[string]any, fs []Field) {
	for _, f := range fs {
		v, ok := m[f.Key]
		if !ok || f.kind == kTable {
			continue
		}
		fmt.Fprintf(b, "%s = %s\n", f.Key, literal(v, f.Children))
	}
}

// literal writes v as a TOML value; tables with a schema keep its order,
// free-form tables (env, attributes) are sorted.
func literal(v any, children []Field) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(s, ".ni") {
			s += ".0"
		}
		return s
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
			for _, k := range sortedKeys(x) {
				parts = append(parts, quoteKey(k)+" = "+literal(x[k], nil))
			}
		}
		if len(parts) == 0 {
			return "{}"
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
	return quote(fmt.Sprint(v))
}

// quote writes a TOML basic string. Go's strconv.Quote is not used: TOML
// has no \x or \a escapes.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return quote(k)
		}
	}
	return k
}
