package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// settingsFiles may read a flag by name: each binary's settings.go, and
// the probe contract's own settings file.
func settingsFile(path string) bool {
	return filepath.Base(path) == "settings.go" || strings.HasSuffix(filepath.ToSlash(path), "pkg/probe/config.go")
}

// TestFlagsReadInSettingsOnly fails when a flag is read by name
// (c.String("deadline"), c.IsSet(name), c.Lineage()[i].Bool(...): any
// method of urfave/cli's Context that takes a flag's name) outside a
// settings file. Each binary binds its flags into one settings struct
// there; everywhere else reads the struct's fields, so a flag's name,
// type and check live in one place.
//
// It type-checks every package of the workspace, for Linux and for macOS,
// so a read through any expression of type *cli.Context is found (a
// tick's t.C, a parameter, a lineage), not only a variable named c.
func TestFlagsReadInSettingsOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the whole workspace")
	}
	var found []string
	checked := 0
	for _, goos := range []string{"linux", "darwin"} {
		pkgs := listWorkspace(t, goos)
		imp := exportImporter(pkgs)
		for _, p := range pkgs {
			if p.Standard || !strings.HasPrefix(p.ImportPath, "github.com/sanctum/council-probes/") || len(p.GoFiles) == 0 {
				continue
			}
			fset := token.NewFileSet()
			var files []*ast.File
			for _, name := range p.GoFiles {
				f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
			info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
			conf := types.Config{Importer: imp(fset), GoVersion: "", Error: func(error) {}}
			if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
				t.Fatalf("type-check %s (GOOS=%s): %v", p.ImportPath, goos, err)
			}
			checked++
			for sel, s := range info.Selections {
				if !readsFlagByName(s) {
					continue
				}
				pos := fset.Position(sel.Sel.Pos())
				if rel, err := filepath.Rel(absRoot(t), pos.Filename); err == nil && !settingsFile(rel) {
					found = append(found, fmt.Sprintf("%s:%d: %s reads a flag by name", rel, pos.Line, sel.Sel.Name))
				}
			}
		}
	}
	if checked < 40 {
		t.Fatalf("type-checked %d packages; the test is not looking at the tree", checked)
	}
	sort.Strings(found)
	found = compactStrings(found)
	for _, f := range found {
		t.Errorf("%s: bind it in the binary's settings.go and read the settings field", f)
	}
}

// readsFlagByName: s selects a method of urfave/cli's Context whose first
// parameter is a flag's name (String(name), IsSet(name), Set(name, v)...).
func readsFlagByName(s *types.Selection) bool {
	if s.Kind() != types.MethodVal {
		return false
	}
	recv := s.Recv()
	if p, ok := recv.(*types.Pointer); ok {
		recv = p.Elem()
	}
	named, ok := recv.(*types.Named)
	if !ok || named.Obj().Pkg() == nil || named.Obj().Pkg().Path() != "github.com/urfave/cli/v2" || named.Obj().Name() != "Context" {
		return false
	}
	sig := s.Obj().Type().(*types.Signature)
	if sig.Params().Len() == 0 {
		return false
	}
	first := sig.Params().At(0)
	return first.Name() == "name" && types.Identical(first.Type(), types.Typ[types.String])
}

// listedPackage is what go list says of one package.
type listedPackage struct {
	ImportPath, Dir, Export string
	GoFiles                 []string
	Standard                bool
}

// listWorkspace lists every package of the workspace and its
// dependencies for goos, with their compiled export data.
func listWorkspace(t *testing.T, goos string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-export", "-deps", "-json=ImportPath,Dir,Export,GoFiles,Standard", "github.com/sanctum/council-probes/...")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list (GOOS=%s): %v\n%s", goos, err, ee.Stderr)
		}
		t.Fatalf("go list (GOOS=%s): %v", goos, err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// exportImporter imports packages from the export data go list built.
func exportImporter(pkgs []listedPackage) func(*token.FileSet) types.Importer {
	export := map[string]string{}
	for _, p := range pkgs {
		export[p.ImportPath] = p.Export
	}
	return func(fset *token.FileSet) types.Importer {
		return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
			f, ok := export[path]
			if !ok || f == "" {
				return nil, errors.New("no export data for " + path)
			}
			return os.Open(f)
		})
	}
}

func absRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
