package hac

import (
	"encoding/json"
	"fmt"
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

// Field is one key of the canonical schema, as `vimana hac schema` shows
// it. Key is relative to its parent; Children are the keys of a table or
// of each table in an array of tables.
type Field struct {
	Key      string   `json:"key"`
	Type     string   `json:"type"`
	Default  string   `json:"default,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Doc      string   `json:"doc"`
	Children []Field  `json:"children,omitempty"`

	kind kind
}

// canonical is the schema; Schema(), validation and Format all use it.
var canonical = []Field{
	{Key: "spacecore", kind: kTable, Doc: "what the workload is called", Children: []Field{
		{Key: "name", kind: kString, Doc: "required; a DNS label: 1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit"},
		{Key: "description", kind: kString, Doc: "free text"},
		{Key: "version", kind: kString, Doc: "free text, e.g. 1.2.0"},
	}},
	{Key: "image", kind: kTable, Doc: "what to run", Children: []Field{
		{Key: "ref", kind: kString, Doc: "required; a registry reference (host/repo:tag, repo@sha256:<hex>; no tag = latest), oci-layout:DIR[:TAG] or docker-archive:FILE; relative DIR/FILE are relative to this file"},
		{Key: "command", kind: kStrings, Doc: "replaces the image's Entrypoint (and its Cmd unless args is set)"},
		{Key: "args", kind: kStrings, Doc: "replaces the image's Cmd"},
		{Key: "env", kind: kStringMap, Doc: "environment merged over the image's, as a table: env = { LOG = \"debug\" } (the list form [\"K=V\"] is refused)"},
		{Key: "workdir", kind: kString, Doc: "absolute working directory; default the image's"},
		{Key: "user", kind: kString, Doc: "user[:group] to run as, numeric or a name in the image's /etc/passwd; default the image's"},
	}},
	{Key: "hardware", kind: kTable, Doc: "what the spacecore gets (enforced)", Children: []Field{
		{Key: "cores", kind: kCores, Default: "1", Doc: "CPU cores as a number or numeric string, to 0.001 (0.5 = half a core); 0.01-256"},
		{Key: "memory", kind: kSize, Default: "256MiB", Doc: "memory limit (\"512MB\", \"1GiB\"; an integer is bytes); 4MiB-1TiB"},
		{Key: "disk", kind: kSize, Default: "1GiB", Doc: "writable layer size; also bounds the unpacked image; at least 1MiB"},
		{Key: "pids", kind: kInt, Default: "1024", Doc: "maximum processes and threads; 8-1048576"},
		{Key: "bandwidth", kind: kRate, Doc: "network rate, e.g. 100Mbps (a market term; not enforced by the sandbox yet)"},
		{Key: "isolation", kind: kString, Default: "sandbox", Enum: []string{"sandbox", "gvisor", "microvm"}, Doc: "isolation level"},
		{Key: "gpu", kind: kTable, Doc: "accelerators", Children: []Field{
			{Key: "count", kind: kInt, Default: "0", Doc: "number of GPUs; 0-16"},
			{Key: "vendor", kind: kString, Enum: []string{"nvidia", "amd", "intel"}, Doc: "vendor"},
			{Key: "model", kind: kString, Doc: "model name, e.g. A100"},
			{Key: "memory", kind: kSize, Doc: "minimum GPU memory"},
		}},
	}},
	{Key: "network", kind: kTable, Doc: "connectivity", Children: []Field{
		{Key: "egress", kind: kBool, Default: "true", Doc: "may open connections out (NAT); false = answer on published ports only"},
		{Key: "ports", kind: kTables, Doc: "published ports, e.g. ports = [{ port = 8080, host_port = 8080 }]", Children: []Field{
			{Key: "port", kind: kInt, Doc: "required; port inside the spacecore, 1-65535"},
			{Key: "protocol", kind: kString, Default: "tcp", Enum: []string{"tcp", "udp"}, Doc: "protocol"},
			{Key: "host_port", kind: kInt, Default: "0", Doc: "port on the host (0 = any free port); 1-65535"},
		}},
	}},
	{Key: "volumes", kind: kTables, Doc: "named persistent directories ([[volumes]])", Children: []Field{
		{Key: "name", kind: kString, Doc: "required; like spacecore.name"},
		{Key: "path", kind: kString, Doc: "required; absolute mount path inside, not /"},
		{Key: "size", kind: kSize, Doc: "requested size"},
	}},
	{Key: "deploy", kind: kTable, Doc: "market terms and runtime policy", Children: []Field{
		{Key: "replicas", kind: kInt, Default: "1", Doc: "instances; 1-100"},
		{Key: "max_price", kind: kTokens, Doc: "highest price per block, e.g. \"0.01vis\" or 10000 (uvis)"},
		{Key: "deposit", kind: kTokens, Doc: "escrow deposit, e.g. \"5vis\""},
		{Key: "regions", kind: kStrings, Doc: "allowed provider regions"},
		{Key: "attributes", kind: kStringMap, Doc: "provider attributes to match, e.g. { arch = \"amd64\" }"},
		{Key: "restart", kind: kString, Default: "on-failure", Enum: []string{"always", "on-failure", "never"}, Doc: "restart policy"},
	}},
	{Key: "secrets", kind: kTable, Doc: "secrets supplied at deploy time (values never in this file)", Children: []Field{
		{Key: "names", kind: kStrings, Doc: "environment variable names"},
	}},
}

func init() { fillTypes(canonical) }

func fillTypes(fs []Field) {
	for i := range fs {
		fs[i].Type = kindNames[fs[i].kind]
		fillTypes(fs[i].Children)
	}
}

// Schema returns the canonical schema in document order. The result is a
// copy: changing it does not change what Parse accepts.
func Schema() []Field { return cloneFields(canonical) }

func cloneFields(fs []Field) []Field {
	out := append([]Field(nil), fs...)
	for i := range out {
		out[i].Enum = append([]string(nil), out[i].Enum...)
		out[i].Children = cloneFields(out[i].Children)
	}
	return out
}

// SchemaJSON renders the schema as indented JSON.
func SchemaJSON() ([]byte, error) { return json.MarshalIndent(canonical, "", "  ") }

// SchemaText renders the schema for people: one line per key.
func SchemaText() string {
	var b strings.Builder
	var walk func(prefix string, fs []Field)
	walk = func(prefix string, fs []Field) {
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
