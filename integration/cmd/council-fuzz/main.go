// The council-fuzz command runs every Fuzz target of the workspace, one
// after another, each for a budget (-fuzztime, as `go test` takes it:
// "5s", or a count such as "20000x"). `make fuzz` runs it; `.ci/run` runs
// it with a short budget, on purpose random: it has found real bugs there.
//
// It exists for one reason beyond the loop: Go 1.26's fuzzing coordinator
// can fail a target that found nothing. When a duration budget ends, the
// coordinator's deadline can reach a worker before the cancellation it
// treats as a normal stop, and the target fails with a bare "context
// deadline exceeded": no failing input written, no message from the
// target (golang/go#75804, fixed in Go 1.27; seen here on FuzzParseJournal
// in CI and FuzzLogScan, a few runs in a hundred). A count budget ("Nx")
// has no deadline and cannot meet the race, but the targets' speeds differ
// some 700 times (81 to 60,000 inputs a second here), so no
// one count fits them all. council-fuzz reads each failing run's output: a
// failure that is only that message, with no input written and no seed
// failing, is the toolchain's, and the target is run once more for as many
// inputs as that run tried ("-fuzztime Nx": the same work, no deadline);
// any other failure, or any failure of the second run, fails the sweep.
//
// Usage:
//
//	council-fuzz [-fuzztime D] [-go GO] MODULE_DIR...
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("council-fuzz", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fuzztime := fs.String("fuzztime", "5s", "budget of each target, as go test's -fuzztime takes it (5s, 20000x)")
	goCmd := fs.String("go", "go", "the go command")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "council-fuzz: name at least one module directory")
		return 2
	}
	r := runner{goCmd: *goCmd, fuzztime: *fuzztime, out: stdout}
	for _, dir := range fs.Args() {
		if err := r.module(context.Background(), dir); err != nil {
			fmt.Fprintf(stderr, "council-fuzz: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "== council-fuzz: %d targets, %d run again after Go's coordinator race (golang/go#75804)\n", r.targets, r.reruns)
	return 0
}

type runner struct {
	goCmd, fuzztime string
	out             io.Writer
	targets, reruns int
}

// module fuzzes every target of every package of the module in dir.
func (r *runner) module(ctx context.Context, dir string) error {
	pkgs, err := r.output(ctx, dir, "list", "./...")
	if err != nil {
		return fmt.Errorf("%s: go list: %w", dir, err)
	}
	for _, pkg := range strings.Fields(pkgs) {
		list, err := r.output(ctx, dir, "test", "-list", "^Fuzz", pkg)
		if err != nil {
			return fmt.Errorf("%s: go test -list: %w", pkg, err)
		}
		for _, line := range strings.Split(list, "\n") {
			if strings.HasPrefix(line, "Fuzz") {
				if err := r.target(ctx, dir, pkg, line); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// target fuzzes one target, once more when the only failure is the
// toolchain's race.
func (r *runner) target(ctx context.Context, dir, pkg, name string) error {
	r.targets++
	budget := r.fuzztime
	for attempt := 1; ; attempt++ {
		fmt.Fprintf(r.out, "== fuzz %s %s\n", pkg, name)
		var buf bytes.Buffer
		cmd := exec.CommandContext(ctx, r.goCmd, "test", "-run", "^$", "-fuzz", "^"+name+"$", "-fuzztime", budget, pkg)
		cmd.Dir = dir
		cmd.Stdout = io.MultiWriter(r.out, &buf)
		cmd.Stderr = cmd.Stdout
		err := cmd.Run()
		switch {
		case err == nil:
			return nil
		case attempt == 1 && toolchainRace(buf.Bytes(), name):
			r.reruns++
			budget = countBudget(buf.Bytes(), r.fuzztime)
			fmt.Fprintf(r.out, "== %s found nothing: its only failure is Go's coordinator race at the end of the budget (golang/go#75804); running it once more, -fuzztime %s\n", name, budget)
		default:
			return fmt.Errorf("%s %s failed (attempt %d): %w", pkg, name, attempt, err)
		}
	}
}

// output runs go with args in dir and returns its standard output.
func (r *runner) output(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, r.goCmd, args...)
	cmd.Dir = dir
	cmd.Stderr = r.out
	b, err := cmd.Output()
	return string(b), err
}

// execsRE matches the count in the fuzzer's progress lines
// ("fuzz: elapsed: 3s, execs: 5704 (1899/sec), ...").
var execsRE = regexp.MustCompile(`execs: (\d+) `)

// countBudget is the retry's budget: as many inputs as the run in out
// tried, as a count, which has no deadline to race; fallback when the run
// printed no count.
func countBudget(out []byte, fallback string) string {
	m := execsRE.FindAllSubmatch(out, -1)
	if len(m) == 0 || string(m[len(m)-1][1]) == "0" {
		return fallback
	}
	return string(m[len(m)-1][1]) + "x"
}

// The lines a failing `go test -fuzz` run prints after the target's own
// failure block, which say nothing of their own.
var trailer = regexp.MustCompile(`^(FAIL|exit status \d+|FAIL\t\S+\t\S+|ok\s.*|PASS)$`)

// toolchainRace reports whether out, the output of a failing
// `go test -fuzz ^name$` run, shows only golang/go#75804: the target's
// failure block is the one line "context deadline exceeded", no failing
// input was written, no seed failed and no other test failed.
func toolchainRace(out []byte, name string) bool {
	s := string(out)
	if strings.Contains(s, "Failing input written to") || strings.Contains(s, "failure while testing seed corpus") {
		return false
	}
	header := "--- FAIL: " + name + " ("
	i := strings.Index(s, header)
	if i < 0 || strings.Count(s, "--- FAIL: ") != 1 {
		return false
	}
	var block []string
	for _, line := range strings.Split(s[i:], "\n")[1:] {
		line = strings.TrimSpace(line)
		if line != "" && !trailer.MatchString(line) {
			block = append(block, line)
		}
	}
	return len(block) == 1 && block[0] == "context deadline exceeded"
}
