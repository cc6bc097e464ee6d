package pkg

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const modulePath = "github.com/sanctum/council-probes/pkg"

// rank orders the layers of doc.go: a package may import its own layer's
// packages and those of lower rank; server and host are siblings, neither
// imports the other.
var rank = map[string]int{"core": 0, "server": 1, "host": 1, "probe": 2, "testkit": 3}

func layerOf(importPath string) (string, bool) {
	rest, ok := strings.CutPrefix(importPath, modulePath+"/")
	if !ok {
		return "", false
	}
	layer, _, _ := strings.Cut(rest, "/")
	return layer, true
}

// TestLayers fails when a package imports from a layer above its own or
// from a sibling layer, or when a folder sits outside the known layers.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		from, ok := layerOf(p.ImportPath)
		if !ok {
			continue // the root package itself
		}
		seen++
		fromRank, known := rank[from]
		if !known {
			t.Errorf("%s: folder %q is not a layer (doc.go lists them)", p.ImportPath, from)
			continue
		}
		for _, imp := range p.Imports {
			to, ok := layerOf(imp)
			if !ok || to == from {
				continue
			}
			if rank[to] >= fromRank {
				t.Errorf("%s (layer %s) imports %s (layer %s): imports go down only", p.ImportPath, from, imp, to)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("go list saw %d packages; the test is not looking at the tree", seen)
	}
}
