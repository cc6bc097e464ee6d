package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/core/suite"
)

// tools are the production binaries that are not probes: they read the
// registry rather than stand in it.
var tools = []string{"council-status", "council-plists", "council-units"}

// TestRegistryMatchesTree: every probe binary in the tree (what `make
// build` puts in bin/ and `make install` installs) is a probe of the
// registry, every registry probe has its main package, and the fault
// matrix covers each one.
func TestRegistryMatchesTree(t *testing.T) {
	var inTree []string
	for _, pattern := range []string{"probes/*/cmd/council-*", "*/cmd/council-*"} {
		dirs, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			// integration/cmd holds the developer's tools (council-bench,
			// council-depaware, council-fuzz): never built into bin/.
			if filepath.Base(filepath.Dir(filepath.Dir(d))) == "integration" {
				continue
			}
			if b := filepath.Base(d); !slices.Contains(tools, b) && !slices.Contains(inTree, b) {
				inTree = append(inTree, b)
			}
		}
	}
	var registered []string
	for _, p := range suite.Probes {
		registered = append(registered, p.Binary())
	}
	slices.Sort(inTree)
	slices.Sort(registered)
	if !slices.Equal(inTree, registered) {
		t.Errorf("probe binaries in the tree %q, in the registry (pkg/core/suite) %q: add the registry entry, or the package", inTree, registered)
	}
	for _, p := range suite.Probes {
		if !slices.ContainsFunc(probes, func(m matrixProbe) bool { return m.name == p.Name }) {
			t.Errorf("%s has no column in the fault matrix", p.Name)
		}
	}
}

// TestRegistryNetworkFlags: a probe the registry says talks to the server
// takes the transport flags, and the others do not.
func TestRegistryNetworkFlags(t *testing.T) {
	for _, p := range suite.Probes {
		bin, ok := bins[p.Binary()]
		if !ok {
			t.Errorf("%s was not built", p.Binary())
			continue
		}
		out, err := exec.Command(bin, "--help").CombinedOutput()
		if err != nil {
			t.Errorf("%s --help: %v\n%s", p.Binary(), err, out)
			continue
		}
		if has := strings.Contains(string(out), "--transport"); has != p.Network {
			t.Errorf("%s: --transport in --help is %t, the registry's Network is %t", p.Binary(), has, p.Network)
		}
	}
}

// readmeRow is a row of the README's probe table: | name | `binary` | schedule | ...
var readmeRow = regexp.MustCompile("(?m)^\\| ([a-z-]+) \\| `(council-[a-z-]+)` \\| ([^|]+) \\|")

// TestReadmeProbeTable: the README's probe table lists exactly the
// registry's probes, in its order, with their binaries and schedules.
func TestReadmeProbeTable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, m := range readmeRow.FindAllStringSubmatch(string(data), -1) {
		got = append(got, m[1]+" "+m[2]+" "+strings.TrimSpace(m[3]))
	}
	for _, p := range suite.Probes {
		want = append(want, p.Name+" "+p.Binary()+" "+p.Schedule())
	}
	if !slices.Equal(got, want) {
		t.Errorf("README probe table rows\n  %q\nwant (from pkg/core/suite)\n  %q", got, want)
	}
}

// layoutWords are the host layout's directory names; only pkg/host/paths
// may join them (the test kit lays out fake hosts, and tests may spell the
// paths they expect).
var layoutWords = regexp.MustCompile(`"\.sanctum"|"\.openclaw"|"Library", "LaunchAgents"|"\.sanctum/|"\.openclaw/`)

// TestHostPathsInOnePlace: no production Go file outside pkg/host/paths
// joins the host's layout by hand.
func TestHostPathsInOnePlace(t *testing.T) {
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "*.go").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	checked := 0
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(f, "pkg/host/paths/") || strings.HasPrefix(f, "pkg/testkit/") || strings.HasPrefix(f, "integration/") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for i, line := range strings.Split(string(data), "\n") {
			if layoutWords.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d joins the host layout by hand; use pkg/host/paths: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked %d files; the test is not looking at the tree", checked)
	}
}
