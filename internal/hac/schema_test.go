package hac

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func walk(prefix string, fs []Field, f func(key string, fl Field)) {
	for _, fl := range fs {
		key := join(prefix, fl.Key)
		f(key, fl)
		walk(key, fl.Children, f)
	}
}

// TestSchemaDocumented: every key has a type and a description, shows up
// in `vimana hac schema` and in docs/hac.md.
func TestSchemaDocumented(t *testing.T) {
	docs, err := os.ReadFile("../../docs/hac.md")
	if err != nil {
		t.Fatal(err)
	}
	text := SchemaText()
	n := 0
	walk("", Schema(), func(key string, f Field) {
		n++
		if f.Type == "" || f.Doc == "" {
			t.Errorf("%s: no type or doc", key)
		}
		if !strings.Contains(text, key+" ") {
			t.Errorf("%s missing from SchemaText", key)
		}
		if !strings.Contains(string(docs), key) {
			t.Errorf("%s missing from docs/hac.md", key)
		}
	})
	if n < 40 {
		t.Errorf("only %d keys in the schema", n)
	}
	var back []Field
	b, err := SchemaJSON()
	if err != nil || json.Unmarshal(b, &back) != nil || len(back) != len(canonical) {
		t.Errorf("SchemaJSON does not round-trip: %v", err)
	}
}

func TestSchemaIsACopy(t *testing.T) {
	s := Schema()
	s[0].Key = "changed"
	s[0].Children[0].Key = "changed"
	if canonical[0].Key != "spacecore" || canonical[0].Children[0].Key != "name" {
		t.Fatal("Schema() exposes the live schema")
	}
}
