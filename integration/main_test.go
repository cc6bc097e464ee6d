package integration

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// repoRoot is the workspace root, seen from this package's directory.
const repoRoot = ".."

// The binaries built once in TestMain: probe binary name -> path. A probe
// whose main package is missing is absent, and its cells FAIL: every probe
// has landed, so an absent one is a broken tree, not a cell to skip.
var (
	bins                        = map[string]string{}
	launchctlBin                string
	systemctlBin, journalctlBin string
	simBin                      string
	statusBin                   string
	plistsBin, unitsBin         string // the installers, whose flags docs/install.md lists
	launcherBin                 string // runs a command and prints its own peak RSS (council-bench's)
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Most cells wait on a timeout or a process, not the CPU: run more of
	// them at once than GOMAXPROCS unless -parallel was given.
	if !flagSet("test.parallel") {
		flag.Set("test.parallel", "6")
	}
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "council-integration-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := buildAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		code := m.Run()
		printMatrix(os.Stdout)
		return code
	}())
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// buildAll builds every probe whose main package exists, the fake
// launchctl, the simulated systemd's commands, the simulator (the
// fallback server's program), council-status (what an operator reads)
// and the installers.
func buildAll(dir string) error {
	for _, p := range probes {
		src := filepath.Join(repoRoot, p.cmdDir)
		if _, built := bins[p.binary]; built || !hasGo(src) {
			continue
		}
		path, err := probetest.Build(dir, "github.com/sanctum/council-probes/"+p.cmdDir, p.binary)
		if err != nil {
			return err
		}
		bins[p.binary] = path
	}
	var err error
	if launchctlBin, err = probetest.BuildFakeLaunchctl(dir); err != nil {
		return err
	}
	if systemctlBin, journalctlBin, err = probetest.BuildFakeSystemd(dir); err != nil {
		return err
	}
	if simBin, err = probetest.Build(dir, "github.com/sanctum/council-probes/pkg/testkit/councilsim/cmd/council-sim", "council-sim"); err != nil {
		return err
	}
	if statusBin, err = probetest.Build(dir, "github.com/sanctum/council-probes/status/cmd/council-status", "council-status"); err != nil {
		return err
	}
	if plistsBin, err = probetest.Build(dir, "github.com/sanctum/council-probes/plists/cmd/council-plists", "council-plists"); err != nil {
		return err
	}
	if unitsBin, err = probetest.Build(dir, "github.com/sanctum/council-probes/units/cmd/council-units", "council-units"); err != nil {
		return err
	}
	launcherBin, err = probetest.Build(dir, "github.com/sanctum/council-probes/integration/cmd/council-bench/launcher", "launcher")
	return err
}

// hasGo reports whether dir holds a Go file.
func hasGo(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}
