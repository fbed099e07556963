package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("vimana %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestHardwareJSON(t *testing.T) {
	out := runCLI(t, "--home", t.TempDir(), "hardware", "-o", "json")
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"capacity", "cpu", "disks", "gpu_sources", "gpus", "host", "isolation", "memory", "nics",
		"offered", "policy", "virtualization", "warnings"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	var iso []struct {
		Name      string `json:"name"`
		Available bool   `json:"available"`
		Reason    string `json:"reason"`
	}
	if err := json.Unmarshal(m["isolation"], &iso); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, lv := range iso {
		names[lv.Name] = true
		if lv.Available == (lv.Reason != "") {
			t.Errorf("level %+v: a reason is given exactly when unavailable", lv)
		}
	}
	for _, n := range []string{"sandbox", "gvisor", "microvm"} {
		if !names[n] {
			t.Errorf("isolation level %s missing from %s", n, m["isolation"])
		}
	}
}

func TestHardwareTable(t *testing.T) {
	out := runCLI(t, "--home", t.TempDir(), "hardware")
	for _, s := range []string{"cpu ", "memory ", "capacity ", "MOUNT", "NIC", "GPU", "ISOLATION", "sandbox", "microvm", "presence is not proof"} {
		if !strings.Contains(out, s) && !(s == "presence is not proof" && strings.Contains(out, "no /dev/kvm")) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}
