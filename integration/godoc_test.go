package integration

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// probePackage is one probe's package, parsed (its non-test files, every
// platform's).
type probePackage struct {
	dir   string
	fset  *token.FileSet
	files []*ast.File
}

func probePackages(t *testing.T) []probePackage {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(repoRoot, "probes", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []probePackage
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		p := probePackage{dir: dir, fset: token.NewFileSet()}
		p.files = parseGoFiles(t, p.fset, dir, parser.ParseComments)
		out = append(out, p)
	}
	if len(out) < 7 {
		t.Fatalf("found %d probe packages under probes/; the test is not looking at the tree", len(out))
	}
	return out
}

// TestProbeDocIsNewAndChannels: `go doc` of every probe package shows New
// and its channel names (Check... string constants), nothing else. The
// rest of a probe is its business: its settings, checks and helpers are
// unexported, so the package's API is what the binary and the contract
// need, and a reader of its doc sees what it alerts on.
func TestProbeDocIsNewAndChannels(t *testing.T) {
	for _, p := range probePackages(t) {
		name := filepath.Base(p.dir)
		t.Run(name, func(t *testing.T) {
			d, err := doc.NewFromFiles(p.fset, p.files, "github.com/sanctum/council-probes/probes/"+name)
			if err != nil {
				t.Fatal(err)
			}
			var funcs []string
			for _, f := range d.Funcs {
				funcs = append(funcs, f.Name)
			}
			if !slices.Equal(funcs, []string{"New"}) {
				t.Errorf("exported functions %q; want New only", funcs)
			}
			for _, ty := range d.Types {
				t.Errorf("exported type %s: a probe exports New and its channel names only", ty.Name)
			}
			for _, v := range d.Vars {
				t.Errorf("exported variables %q: a probe exports New and its channel names only", v.Names)
			}
			channels := 0
			for _, c := range d.Consts {
				for _, n := range c.Names {
					if !strings.HasPrefix(n, "Check") {
						t.Errorf("exported constant %s is not a channel name (Check...)", n)
					}
					channels++
				}
			}
			if channels == 0 {
				t.Errorf("no channel names (Check... constants) in its doc")
			}
		})
	}
}

// TestSharedChannelNamesDeclaredOnce: a channel name that probes share
// (one reads it from another's state, both report on it: pkg/core/suite's)
// or that is the contract's (config, auth: pkg/probe's) is that package's
// constant, referenced, never a string literal copied into a probe's
// package. (Two probes' channels of the same name but their own meaning,
// the guardian's and the canary's unreachable, are each their own.)
func TestSharedChannelNamesDeclaredOnce(t *testing.T) {
	// Every probe's Check constants: name value -> the probes declaring
	// it, and those that spell it as a literal.
	declared := map[string][]string{}
	literal := map[string][]string{}
	known := packageChecks(t, "suite", "pkg", "core", "suite")
	shared, contract := map[string]bool{}, map[string]bool{}
	for _, v := range known {
		shared[v] = true
	}
	for k, v := range packageChecks(t, "probe", "pkg", "probe") {
		known[k] = v
		contract[v] = true
	}
	pkgs := probePackages(t)
	for _, p := range pkgs {
		probe := filepath.Base(p.dir)
		eachConst(p.files, func(name string, e ast.Expr) {
			if !strings.HasPrefix(strings.ToLower(name), "check") {
				return
			}
			value, isLit := constValue(e, known)
			if value == "" {
				return
			}
			declared[value] = appendOnce(declared[value], probe)
			if isLit {
				literal[value] = appendOnce(literal[value], probe)
			}
		})
	}
	var names []string
	for v := range declared {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		if len(literal[v]) > 0 && (shared[v] || contract[v]) {
			t.Errorf("channel %q is spelled as a literal in %q: it is pkg/core/suite's or pkg/probe's; refer to that constant", v, literal[v])
		}
	}
	// A name probes share (pkg/core/suite's) spelled as a bare literal
	// anywhere else in a probe (the guardian's list of the canary's hang
	// channels, a state lookup) is a copy too; an event that bears the
	// same name (a log call's event, Fail's event argument) is not a
	// channel. The contract's names are also event and flag names
	// ("config", "transport"), so only the probes' Check constants are held
	// to them, above.
	for _, p := range pkgs {
		for _, f := range p.files {
			var stack []ast.Node
			ast.Inspect(f, func(n ast.Node) bool {
				if n == nil {
					stack = stack[:len(stack)-1]
					return true
				}
				stack = append(stack, n)
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || len(stack) < 2 {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil || !shared[s] || eventPosition(stack[len(stack)-2], lit) {
					return true
				}
				t.Errorf("%s: the shared channel name %q as a literal: use its constant", p.fset.Position(lit.Pos()), s)
				return true
			})
		}
	}
}

// eventPosition: lit, a child of parent, names an event or a constant
// that is not a channel: an argument of a log call (Info, Warn, Error,
// Debug, Log), an argument after the channel of Fail, Unknown or Pass, or
// the value of a constant whose name is not a Check's.
func eventPosition(parent ast.Node, lit *ast.BasicLit) bool {
	switch p := parent.(type) {
	case *ast.ValueSpec:
		for _, n := range p.Names {
			if strings.HasPrefix(strings.ToLower(n.Name), "check") {
				return false
			}
		}
		return true
	case *ast.CallExpr:
		sel, ok := p.Fun.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		switch sel.Sel.Name {
		case "Info", "Warn", "Error", "Debug", "Log":
			return true
		case "Fail", "Unknown", "Pass":
			return len(p.Args) > 0 && p.Args[0] != lit
		}
	}
	return false
}

// packageChecks are the Check constants a package under pkg declares,
// as "<pkg>.<Name>" -> value ("suite.CheckHang" -> "hang").
func packageChecks(t *testing.T, pkgName string, dir ...string) map[string]string {
	t.Helper()
	files := parseGoFiles(t, token.NewFileSet(), filepath.Join(append([]string{repoRoot}, dir...)...), 0)
	out := map[string]string{}
	eachConst(files, func(name string, e ast.Expr) {
		if strings.HasPrefix(name, "Check") {
			if v, ok := constValue(e, nil); ok {
				out[pkgName+"."+name] = v
			}
		}
	})
	if len(out) < 2 {
		t.Fatalf("%s declares %d channel names; the test is not looking at it", filepath.Join(dir...), len(out))
	}
	return out
}

// eachConst calls fn with each named constant that has its own value
// expression in files.
func eachConst(files []*ast.File, fn func(name string, value ast.Expr)) {
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						fn(n.Name, vs.Values[i])
					}
				}
			}
		}
	}
}

// constValue is the string value of a constant's expression e: a literal
// (isLiteral), or a constant of known ("probe.CheckConfig"), by name.
func constValue(e ast.Expr, known map[string]string) (value string, isLiteral bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			if s, err := strconv.Unquote(x.Value); err == nil {
				return s, true
			}
		}
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok {
			return known[id.Name+"."+x.Sel.Name], false
		}
	}
	return "", false
}

// parseGoFiles parses the non-test .go files of dir, every platform's.
func parseGoFiles(t *testing.T, fset *token.FileSet, dir string, mode parser.Mode) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
