package hac

import (
	"fmt"
	"sort"
	"strings"
)

// checker walks a decoded document against the schema and collects
// unknown keys (with a did-you-mean) and type errors.
type checker struct {
	file  string
	idx   index
	errs  Errors
	bad   map[string]bool   // paths that already have an error
	alias map[string]string // canonical path -> legacy path it came from
}

func newChecker(file string, idx index) *checker {
	return &checker{file: file, idx: idx, bad: map[string]bool{}, alias: map[string]string{}}
}

// add reports a problem with the value at path (or, for a missing key,
// at its nearest ancestor).
func (c *checker) add(path, format string, a ...any) {
	path = c.legacy(path)
	c.at(path, c.idx.valPos(path), fmt.Sprintf(format, a...))
}

// addKey reports a problem with the key itself (unknown, misplaced).
func (c *checker) addKey(path, format string, a ...any) {
	path = c.legacy(path)
	c.at(path, c.idx.keyPos(path), fmt.Sprintf(format, a...))
}

// legacy names a canonical path by the legacy key it was moved from, so
// errors name what is in the file ("resources.memory", not
// "hardware.memory").
func (c *checker) legacy(path string) string {
	for q := path; q != ""; q = parent(q) {
		if from, ok := c.alias[q]; ok {
			return from + path[len(q):]
		}
	}
	return path
}

// at records an error, one per key: once a key is wrong, checks of the
// same key or anything under it would only repeat the news.
func (c *checker) at(path string, p pos, msg string) {
	for q := path; q != ""; q = parent(q) {
		if c.bad[q] {
			return
		}
	}
	c.bad[path] = true
	c.errs = append(c.errs, &Error{File: c.file, Line: p.line, Col: p.col, Key: path, Msg: msg})
}

func (c *checker) table(path string, m map[string]any, fs []Field) {
	for _, k := range sortedKeys(m) {
		full := k
		if path != "" {
			full = path + "." + k
		}
		f := find(fs, k)
		if f == nil {
			names := make([]string, len(fs))
			for i, f := range fs {
				names[i] = f.Key
			}
			msg := "unknown key"
			if s := suggest(k, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += fmt.Sprintf(" (known: %s)", strings.Join(names, ", "))
			}
			c.addKey(full, "%s", msg)
			continue
		}
		c.value(full, m[k], f)
	}
}

func find(fs []Field, k string) *Field {
	for i := range fs {
		if fs[i].Key == k {
			return &fs[i]
		}
	}
	return nil
}

func (c *checker) value(path string, v any, f *Field) {
	bad := func() { c.add(path, "want %s, got %s", kindNames[f.kind], typeName(v)) }
	switch f.kind {
	case kString:
		s, ok := v.(string)
		if !ok {
			bad()
			return
		}
		if len(f.Enum) > 0 && !contains(f.Enum, s) {
			msg := fmt.Sprintf("%q is not one of %s", s, strings.Join(f.Enum, ", "))
			if sg := suggest(s, f.Enum); sg != "" {
				msg += fmt.Sprintf("; did you mean %q?", sg)
			}
			c.add(path, "%s", msg)
		}
	case kInt:
		if _, ok := v.(int64); !ok {
			bad()
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			bad()
		}
	case kStrings:
		arr, ok := v.([]any)
		if !ok {
			bad()
			return
		}
		for i, e := range arr {
			if _, ok := e.(string); !ok {
				c.add(fmt.Sprintf("%s[%d]", path, i), "want string, got %s", typeName(e))
			}
		}
	case kStringMap:
		m, ok := v.(map[string]any)
		if !ok {
			c.add(path, "want a table of strings like { KEY = \"value\" }, got %s", typeName(v))
			return
		}
		for k, e := range m {
			if _, ok := e.(string); !ok {
				c.add(path+"."+k, "want string, got %s", typeName(e))
			}
		}
	case kCores:
		if _, err := parseCores(v); err != nil {
			c.add(path, "%v", err)
		}
	case kSize:
		if _, err := parseSize(v); err != nil {
			c.add(path, "%v", err)
		}
	case kRate:
		if _, err := parseBandwidth(v); err != nil {
			c.add(path, "%v", err)
		}
	case kTokens:
		if _, err := parseTokens(v); err != nil {
			c.add(path, "%v", err)
		}
	case kTable:
		m, ok := v.(map[string]any)
		if !ok {
			bad()
			return
		}
		c.table(path, m, f.Children)
	case kTables:
		arr, ok := v.([]any)
		if !ok {
			if _, isMap := v.([]map[string]any); !isMap {
				bad()
				return
			}
		}
		for i, e := range asTables(v) {
			if e == nil {
				c.add(fmt.Sprintf("%s[%d]", path, i), "want table, got %s", typeName(arr[i]))
				continue
			}
			c.table(fmt.Sprintf("%s[%d]", path, i), e, f.Children)
		}
	}
}

// asTables returns the tables of an array (nil for non-table elements).
func asTables(v any) []map[string]any {
	switch x := v.(type) {
	case []map[string]any:
		return x
	case []any:
		out := make([]map[string]any, len(x))
		for i, e := range x {
			out[i], _ = e.(map[string]any)
		}
		return out
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case []any, []map[string]any:
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the closest candidate within edit distance 2 (or 1 for
// short words), or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := distance(strings.ToLower(s), c)
		if d < bestD && (d <= 1 || len(c) > 3) {
			best, bestD = c, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
