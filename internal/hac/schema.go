package hac

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

type kind int

const (
	kString kind = iota
	kInt
	kBool
	kStrings   // array of strings
	kStringMap // table of string values
	kCores     // number or numeric string
	kSize      // "512MB" or integer bytes
	kRate      // "100Mbps"
	kTokens    // "5vis" / "5000000uvis" / integer uvis
	kTable
	kTables // array of tables
)

var kindNames = map[kind]string{
	kString: "string", kInt: "integer", kBool: "boolean", kStrings: "array of strings",
	kStringMap: "table of strings", kCores: "number", kSize: "size", kRate: "rate", kTokens: "token amount",
	kTable: "table", kTables: "array of tables",
}

// field is one key of the canonical schema.
type field struct {
	Key      string   `json:"key"`
	Kind     kind     `json:"-"`
	Type     string   `json:"type"`
	Default  string   `json:"default,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Doc      string   `json:"doc"`
	Children []field  `json:"children,omitempty"`
}

// canonical is the schema; Schema(), validation and Format all use it.
var canonical = []field{
	{Key: "spacecore", Kind: kTable, Doc: "what the workload is called", Children: []field{
		{Key: "name", Kind: kString, Doc: "required; 1-63 of a-z, 0-9 and '-', starting with a letter or digit"},
		{Key: "description", Kind: kString, Doc: "free text"},
		{Key: "version", Kind: kString, Doc: "free text, e.g. 1.2.0"},
	}},
	{Key: "image", Kind: kTable, Doc: "what to run", Children: []field{
		{Key: "ref", Kind: kString, Doc: "required; registry ref (host/repo:tag or @sha256:...), oci-layout:DIR[:TAG] or docker-archive:FILE (relative to this file)"},
		{Key: "command", Kind: kStrings, Doc: "replaces the image's Entrypoint (and its Cmd unless args is set)"},
		{Key: "args", Kind: kStrings, Doc: "replaces the image's Cmd"},
		{Key: "env", Kind: kStringMap, Doc: "environment, merged over the image's; e.g. env = { LOG = \"debug\" }"},
		{Key: "workdir", Kind: kString, Doc: "absolute working directory"},
		{Key: "user", Kind: kString, Doc: "numeric uid[:gid]"},
	}},
	{Key: "hardware", Kind: kTable, Doc: "what the spacecore gets (enforced)", Children: []field{
		{Key: "cores", Kind: kCores, Default: "1", Doc: "CPU cores, fractional allowed (0.5 = half a core); 0.01-256"},
		{Key: "memory", Kind: kSize, Default: "256MiB", Doc: "memory limit; at least 4MiB"},
		{Key: "disk", Kind: kSize, Default: "1GiB", Doc: "writable layer size; also bounds the unpacked image"},
		{Key: "pids", Kind: kInt, Default: "1024", Doc: "maximum processes and threads; 8-1048576"},
		{Key: "bandwidth", Kind: kRate, Doc: "network rate, e.g. 100Mbps (a market term; not enforced by the sandbox yet)"},
		{Key: "isolation", Kind: kString, Default: "sandbox", Enum: []string{"sandbox", "gvisor", "microvm"}, Doc: "isolation level"},
		{Key: "gpu", Kind: kTable, Doc: "accelerators", Children: []field{
			{Key: "count", Kind: kInt, Default: "0", Doc: "number of GPUs; 0-16"},
			{Key: "vendor", Kind: kString, Enum: []string{"nvidia", "amd", "intel"}, Doc: "vendor"},
			{Key: "model", Kind: kString, Doc: "model name, e.g. A100"},
			{Key: "memory", Kind: kSize, Doc: "minimum GPU memory"},
		}},
	}},
	{Key: "network", Kind: kTable, Doc: "connectivity", Children: []field{
		{Key: "egress", Kind: kBool, Default: "true", Doc: "may open connections out (NAT); false = answer on published ports only"},
		{Key: "ports", Kind: kTables, Doc: "published ports, e.g. ports = [{ port = 8080, host_port = 8080 }]", Children: []field{
			{Key: "port", Kind: kInt, Doc: "required; port inside the spacecore, 1-65535"},
			{Key: "protocol", Kind: kString, Default: "tcp", Enum: []string{"tcp", "udp"}, Doc: "protocol"},
			{Key: "host_port", Kind: kInt, Default: "0", Doc: "port on the host (0 = any free port); 1-65535"},
		}},
	}},
	{Key: "volumes", Kind: kTables, Doc: "named persistent directories ([[volumes]])", Children: []field{
		{Key: "name", Kind: kString, Doc: "required; like spacecore.name"},
		{Key: "path", Kind: kString, Doc: "required; absolute mount path inside, not /"},
		{Key: "size", Kind: kSize, Doc: "requested size"},
	}},
	{Key: "deploy", Kind: kTable, Doc: "market terms and runtime policy", Children: []field{
		{Key: "replicas", Kind: kInt, Default: "1", Doc: "instances; 1-100"},
		{Key: "max_price", Kind: kTokens, Doc: "highest price per block, e.g. \"0.01vis\" or 10000 (uvis)"},
		{Key: "deposit", Kind: kTokens, Doc: "escrow deposit, e.g. \"5vis\""},
		{Key: "regions", Kind: kStrings, Doc: "allowed provider regions"},
		{Key: "attributes", Kind: kStringMap, Doc: "provider attributes to match, e.g. { arch = \"amd64\" }"},
		{Key: "restart", Kind: kString, Default: "on-failure", Enum: []string{"always", "on-failure", "never"}, Doc: "restart policy"},
	}},
	{Key: "secrets", Kind: kTable, Doc: "secrets supplied at deploy time (values never in this file)", Children: []field{
		{Key: "names", Kind: kStrings, Doc: "environment variable names"},
	}},
}

func init() { fillTypes(canonical) }

func fillTypes(fs []field) {
	for i := range fs {
		fs[i].Type = kindNames[fs[i].Kind]
		fillTypes(fs[i].Children)
	}
}

// Schema returns the canonical schema as JSON-serialisable fields.
func Schema() []field { return canonical }

// SchemaJSON renders the schema as indented JSON.
func SchemaJSON() ([]byte, error) { return json.MarshalIndent(canonical, "", "  ") }

// SchemaText renders the schema for people: one line per key.
func SchemaText() string {
	var b strings.Builder
	var walk func(prefix string, fs []field)
	walk = func(prefix string, fs []field) {
		for _, f := range fs {
			key := f.Key
			if prefix != "" {
				key = prefix + "." + f.Key
			}
			line := fmt.Sprintf("%-26s %-17s", key, f.Type)
			if f.Default != "" {
				line += " default " + f.Default + ";"
			}
			if len(f.Enum) > 0 {
				line += " one of " + strings.Join(f.Enum, "|") + ";"
			}
			fmt.Fprintf(&b, "%s %s\n", line, f.Doc)
			walk(key, f.Children)
		}
	}
	walk("", canonical)
	return b.String()
}

// checker walks a decoded document against the schema and collects
// unknown keys (with a did-you-mean) and type errors.
type checker struct {
	file string
	idx  map[string]pos
	errs Errors
	bad  map[string]bool // paths that already have an error
}

func (c *checker) add(path, format string, a ...any) {
	if c.bad == nil {
		c.bad = map[string]bool{}
	}
	for q := path; q != ""; {
		if c.bad[q] {
			return // one error per key: later checks would only repeat it
		}
		i := strings.LastIndexAny(q, ".[")
		if i < 0 {
			break
		}
		q = q[:i]
	}
	c.bad[path] = true
	p := lookup(c.idx, path)
	if p.line == 0 {
		p = pos{1, 1} // a key missing from the whole document
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: p.line, Col: p.col, Key: path, Msg: fmt.Sprintf(format, a...)})
}

func (c *checker) table(path string, m map[string]any, fs []field) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
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
			c.add(full, "%s", msg)
			continue
		}
		c.value(full, m[k], f)
	}
}

func find(fs []field, k string) *field {
	for i := range fs {
		if fs[i].Key == k {
			return &fs[i]
		}
	}
	return nil
}

func (c *checker) value(path string, v any, f *field) {
	bad := func() { c.add(path, "want %s, got %s", kindNames[f.Kind], typeName(v)) }
	switch f.Kind {
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
			bad()
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
