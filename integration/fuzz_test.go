package integration

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// parsers are the parsers of untrusted input (server answers, files, flags). Each must be
// exercised by a Fuzz target in its package (a target whose body calls the
// parser) with a seed corpus in testdata/fuzz/<Target>, so `make fuzz` has
// something to start from and a parser without fuzzing fails CI.
var parsers = []struct {
	what string
	dir  string // package directory, relative to the repo root
	fn   string // the parsing function the target must call
}{
	{"launchctl print", "pkg/host/launchctl", "ParsePrint"},
	{"launchctl print-disabled", "pkg/host/launchctl", "ParsePrintDisabled"},
	{"systemctl show", "pkg/host/systemctl", "ParseShow"},
	{"journalctl -o cat (a unit's journal)", "pkg/host/systemctl", "ParseJournal"},
	{"/proc/<pid>/stat start time", "pkg/host/service", "ParseStatStart"},
	{"SSE stream", "pkg/server/openai", "newSSEReader"},
	{"weight manifest", "pkg/host/manifest", "Parse"},
	{"state file", "pkg/core/state", "Load"},
	{"drift map", "probes/drift", "parseMap"},
	{"prompt file (parity-smoke)", "probes/paritysmoke", "parsePrompts"},
	{"shared config file", "pkg/probe", "ParseConfig"},
	{"server /metrics (Prometheus text)", "pkg/server/backend", "ParsePrometheus"},
	{"llama-server /health", "pkg/server/backend", "ParseLlamaHealth"},
	{"llama-server /props", "pkg/server/backend", "ParseLlamaProps"},
	{"vLLM /version, Ollama /api/version", "pkg/server/backend", "ParseVersion"},
	{"Ollama /api/ps, /api/tags", "pkg/server/backend", "ParseOllamaModels"},
	{"LM Studio /api/v0/models", "pkg/server/backend", "ParseLMStudioModels"},
	{"OpenAI /v1/models (backend adapters)", "pkg/server/backend", "ParseOpenAIModels"},
	{"/proc/<pid>/stat", "pkg/host/proccpu", "ParseStat"},
	{"/proc/uptime", "pkg/host/proccpu", "ParseUptime"},
	{"ps -o cputime=", "pkg/host/proccpu", "ParsePSCPUTime"},
	{"ps -A process table", "pkg/host/proccpu", "ParsePSTable"},
	{"server request log lines (council, gin, llama-server, uvicorn)", "pkg/host/accesslog", "ParseRequest"},
	{"/proc/<pid>/stat with ppid and start time", "pkg/host/proccpu", "ParseStatProc"},
}

// fuzzTarget is one func FuzzXxx(f *testing.F) and the functions it calls.
type fuzzTarget struct {
	name  string
	calls map[string]bool
}

// fuzzTargets parses the _test.go files of dir.
func fuzzTargets(t *testing.T, dir string) []fuzzTarget {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []fuzzTarget
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Fuzz") || fn.Body == nil {
				continue
			}
			ft := fuzzTarget{name: fn.Name.Name, calls: map[string]bool{}}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch f := call.Fun.(type) {
				case *ast.Ident:
					ft.calls[f.Name] = true
				case *ast.SelectorExpr:
					ft.calls[f.Sel.Name] = true
				}
				return true
			})
			out = append(out, ft)
		}
	}
	return out
}

// corpus returns the corpus files of target under dir, failing on any that
// is not in the `go test fuzz v1` format.
func corpus(t *testing.T, dir, target string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "testdata", "fuzz", target))
	if err != nil {
		return nil
	}
	var seeds []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		p := filepath.Join(dir, "testdata", "fuzz", target, e.Name())
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if strings.TrimSpace(line) != "go test fuzz v1" {
			t.Errorf("%s is not a fuzz corpus file (first line %q)", p, line)
		}
		seeds = append(seeds, e.Name())
	}
	return seeds
}

func TestEveryParserIsFuzzedWithASeedCorpus(t *testing.T) {
	for _, p := range parsers {
		t.Run(p.what, func(t *testing.T) {
			dir := filepath.Join(repoRoot, p.dir)
			if !hasGo(dir) {
				t.Fatalf("%s has no Go files: every parser's package has landed, so it moved or was deleted", p.dir)
			}
			var targets []string
			for _, ft := range fuzzTargets(t, dir) {
				if ft.calls[p.fn] {
					targets = append(targets, ft.name)
				}
			}
			if len(targets) == 0 {
				t.Fatalf("no Fuzz target in %s calls %s: add one (make fuzz runs every Fuzz target)", p.dir, p.fn)
			}
			sort.Strings(targets)
			for _, name := range targets {
				if seeds := corpus(t, dir, name); len(seeds) > 0 {
					t.Logf("%s: %s/%s with %d seed files", p.fn, p.dir, name, len(seeds))
					return
				}
			}
			t.Fatalf("%s fuzzes %s but has no seed corpus in %s: add seed files (go test fuzz v1) there",
				strings.Join(targets, ", "), p.fn, filepath.Join(p.dir, "testdata", "fuzz", targets[0]))
		})
	}
}
