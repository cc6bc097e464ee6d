package probetest

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/gobuild"
)

// An Option says what RunMain prepares before the tests run: a Binary to
// build, the default Parallel, or a Setup step.
type Option interface{ apply(*mainConfig) }

type mainConfig struct {
	parallel int
	binaries []Binary
	setups   []Setup
}

// Binary is a binary the tests need: RunMain builds package Pkg (an import
// path or ./dir) as Name into a temporary directory and stores its path in
// *Out.
type Binary struct {
	Out  *string
	Pkg  string
	Name string
}

func (b Binary) apply(c *mainConfig) { c.binaries = append(c.binaries, b) }

// FakeLaunchctl is the fake launchctl as a Binary stored in *out.
func FakeLaunchctl(out *string) Binary {
	return Binary{out, gobuild.FakeLaunchctlPkg, "fake-launchctl"}
}

// FakeSystemctl and FakeJournalctl are the simulated systemd's commands as
// Binaries stored in *out.
func FakeSystemctl(out *string) Binary {
	return Binary{out, gobuild.FakeSystemctlPkg, "fake-systemctl"}
}

// FakeJournalctl: see FakeSystemctl.
func FakeJournalctl(out *string) Binary {
	return Binary{out, gobuild.FakeJournalctlPkg, "fake-journalctl"}
}

// Parallel is the -test.parallel RunMain sets unless the command line gave
// one: end-to-end cases mostly wait on timeouts and processes, not the CPU.
type Parallel int

func (p Parallel) apply(c *mainConfig) { c.parallel = int(p) }

// Setup runs after the binaries are built, with the directory they are in
// (e.g. to put a file beside one of them).
type Setup func(dir string) error

func (s Setup) apply(c *mainConfig) { c.setups = append(c.setups, s) }

// RunMain is a test package's whole TestMain: it parses the flags, sets the
// default parallelism, builds the binaries into a temporary directory, runs
// the tests, removes the directory and exits with the tests' code. A fuzz
// worker runs only its fuzz target, so it builds nothing.
func RunMain(m *testing.M, opts ...Option) {
	os.Exit(runMain(m, opts))
}

func runMain(m *testing.M, opts []Option) int {
	var c mainConfig
	for _, o := range opts {
		o.apply(&c)
	}
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.Run()
	}
	if c.parallel > 0 && !flagGiven("test.parallel") {
		flag.Set("test.parallel", fmt.Sprint(c.parallel))
	}
	dir, err := os.MkdirTemp("", "council-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, b := range c.binaries {
		if *b.Out, err = Build(dir, b.Pkg, b.Name); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	for _, s := range c.setups {
		if err := s(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
