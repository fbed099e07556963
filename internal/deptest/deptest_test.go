package deptest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/vistara-labs/vimana/"

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	Name       string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Doc,Imports,Deps,Name", "-tags", "seccomp", mod+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func under(path string, prefixes ...string) bool {
	for _, p := range prefixes {
		p = mod + p
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// forbidden maps a layer to what it must never depend on, even
// transitively.
var forbidden = map[string][]string{
	"internal/market":    {"internal/hypercore", "internal/spacecore", "internal/storage", "internal/provider", "internal/image", "internal/node", "internal/api", "internal/gateway", "internal/chain"},
	"internal/chain":     {"internal/hypercore", "internal/spacecore", "internal/storage", "internal/provider", "internal/image", "internal/node", "internal/api", "internal/gateway"},
	"internal/wallet":    {"internal/hypercore", "internal/spacecore", "internal/chain", "internal/node"},
	"internal/hac":       {"internal/spacecore", "internal/node", "internal/chain", "internal/image", "internal/hypercore/sandbox"},
	"internal/image":     {"internal/spacecore", "internal/node", "internal/chain", "internal/hac"},
	"internal/hypercore": {"internal/spacecore", "internal/node", "internal/chain", "internal/market", "internal/api"},
	"internal/api":       {"internal/chain", "internal/market", "internal/node"},
	"internal/resources": {"internal/chain", "internal/market", "internal/node", "internal/spacecore", "internal/api", "internal/hypercore/sandbox"},
	"internal/spacecore": {"internal/chain", "internal/market", "internal/api", "internal/node", "internal/hypercore/sandbox", "internal/hypercore/gvisor", "internal/hypercore/microvm"},
}

// providers may be imported (outside tests) only by internal/node.
var providers = []string{"internal/hypercore/sandbox", "internal/hypercore/gvisor", "internal/hypercore/microvm", "internal/hypercore/firecracker", "internal/hypercore/fake"}

func TestForbiddenImports(t *testing.T) {
	for _, p := range listPackages(t) {
		for layer, bad := range forbidden {
			if !under(p.ImportPath, layer) {
				continue
			}
			for _, d := range p.Deps {
				if under(d, bad...) && !under(d, layer) {
					t.Errorf("%s depends on %s, which layer %s must not", p.ImportPath, d, layer)
				}
			}
		}
		for _, imp := range p.Imports {
			if under(imp, providers...) && !under(p.ImportPath, "internal/node") && !under(p.ImportPath, "internal/hypercore") {
				t.Errorf("%s imports provider %s; only internal/node's builtins may", p.ImportPath, imp)
			}
			if under(imp, "cmd") {
				t.Errorf("%s imports a command package %s", p.ImportPath, imp)
			}
		}
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

func TestRulesCatchViolations(t *testing.T) {
	// The checker itself must flag a violation: a market package that
	// depends on the sandbox.
	if !under(mod+"internal/hypercore/sandbox", forbidden["internal/market"]...) {
		t.Fatal("under() does not match a sub-package of a forbidden layer")
	}
	if under(mod+"internal/marketplace", "internal/market") {
		t.Fatal("under() matches a mere name prefix")
	}
}
