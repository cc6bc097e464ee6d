// The council-depaware command keeps every binary small by construction. It
// checks each binary against a file checked in beside its main package,
// depaware.txt (in the style of tailscale's): the packages the binary links
// and its size budget. `make lint` runs it; it fails, with a message that
// says what to do, when
//
//   - a binary links a package its list forbids ("council-status now
//     depends on net/http; it must not"), with the import chain that pulls
//     it in;
//   - a binary's packages differ from its list (a new dependency must be a
//     deliberate, reviewed change: regenerate the list and commit it);
//   - a stripped binary, built as the Makefile builds it, is over its
//     budget;
//   - a binary has no list yet;
//   - a production binary (anything outside pkg/testkit) links a package
//     of pkg/testkit.
//
// The packages are those `go list -deps` reports for darwin/arm64 (the
// machine the probes ship to) with the Makefile's build tags: every
// non-standard package, and the standard library's public packages (its
// internal and vendored ones change with each Go release and say nothing
// about a binary's weight).
//
// Usage:
//
//	council-depaware [-update] [-bin DIR] [-tags TAGS] ./path/to/cmd/NAME...
//
//	-bin DIR    the built binaries (make build), for their sizes; default bin
//	-update     rewrite each depaware.txt from what the binary links now,
//	            keeping its size budget and forbid lines (a new list gets a
//	            budget of its size plus 10%, at most 9.9 MB, and forbids
//	            net/http when it does not link it)
//
// Format of depaware.txt: comment lines (#), then
//
//	size-budget BYTES
//	forbid IMPORT/PATH   (any number)
//	IMPORT/PATH          (one per linked package, sorted)
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// testkitPrefix is the folder of simulators and test helpers, which only
// tests, the demo and the bench use.
const testkitPrefix = "github.com/sanctum/council-probes/pkg/testkit/"

// isTestkit says whether the main package in dir is one of the test kit's
// own binaries (council-sim, forceflow-sim, fake-launchctl).
func isTestkit(dir string) bool {
	return strings.Contains(filepath.ToSlash(filepath.Clean(dir))+"/", "pkg/testkit/")
}

// testkitLinks reports each test kit package a production binary links (a
// simulator, a fake launchd, a test CA); only the test kit's own binaries
// may link them.
func testkitLinks(dir string, deps []string, imports map[string][]string) []string {
	if isTestkit(dir) {
		return nil
	}
	var problems []string
	for _, d := range deps {
		if strings.HasPrefix(d, testkitPrefix) {
			problems = append(problems, fmt.Sprintf("%s links the test kit package %s; no production binary may. Imported via: %s",
				filepath.Base(dir), d, strings.Join(chain(dir, d, imports), " -> ")))
		}
	}
	return problems
}

// listFile is the checked-in list's name, beside the main package.
const listFile = "depaware.txt"

// doc is where a failure points the reader.
const doc = "docs/RELIABILITY.md, section \"Binary size and dependencies\""

func main() {
	bin := flag.String("bin", "bin", "directory of the built binaries")
	tags := flag.String("tags", "urfave_cli_no_docs", "build tags, as the Makefile builds")
	update := flag.Bool("update", false, "rewrite the lists from what each binary links now")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: council-depaware [-update] [-bin DIR] ./path/to/cmd/NAME...")
		os.Exit(2)
	}
	failed := false
	for _, dir := range flag.Args() {
		problems, err := run(dir, *bin, *tags, *update)
		if err != nil {
			fmt.Fprintf(os.Stderr, "council-depaware: %s: %v\n", dir, err)
			failed = true
			continue
		}
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "%s\n", p)
			failed = true
		}
	}
	if failed {
		fmt.Fprintf(os.Stderr, "see %s\n", doc)
		os.Exit(1)
	}
}

// list is one depaware.txt.
type list struct {
	budget int64
	forbid []string
	deps   []string
}

func run(dir, bin, tags string, update bool) ([]string, error) {
	name := filepath.Base(dir)
	path := filepath.Join(dir, listFile)
	deps, imports, err := linked(dir, tags)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(filepath.Join(bin, name))
	if err != nil {
		return nil, fmt.Errorf("no built binary %s: run make build first", filepath.Join(bin, name))
	}
	size := fi.Size()
	have, err := readList(path)
	missing := errors.Is(err, os.ErrNotExist)
	if err != nil && !missing {
		return nil, err
	}
	var problems []string
	problems = append(problems, testkitLinks(dir, deps, imports)...)
	// A forbidden package is reported first and never written into a list.
	for _, f := range have.forbid {
		if slices.Contains(deps, f) {
			problems = append(problems, fmt.Sprintf("%s now depends on %s; it must not (%s forbids it). Imported via: %s",
				name, f, path, strings.Join(chain(dir, f, imports), " -> ")))
		}
	}
	if update {
		if len(problems) > 0 {
			return problems, nil
		}
		if missing {
			have.budget = newBudget(size)
			if !slices.Contains(deps, "net/http") {
				have.forbid = []string{"net/http"}
			}
		}
		have.deps = deps
		return nil, writeList(path, name, have)
	}
	if missing {
		return []string{fmt.Sprintf("%s has no dependency list (%s): run `make depaware` and commit it", name, path)}, nil
	}
	if added, removed := diff(have.deps, deps); len(added)+len(removed) > 0 {
		var ch []string
		for _, a := range added {
			ch = append(ch, "+"+a)
		}
		for _, r := range removed {
			ch = append(ch, "-"+r)
		}
		if len(ch) > 12 {
			ch = append(ch[:12], fmt.Sprintf("and %d more", len(ch)-12))
		}
		problems = append(problems, fmt.Sprintf("%s: its dependencies changed (%s): if that is intended, run `make depaware` and commit %s",
			name, strings.Join(ch, " "), path))
	}
	if have.budget > 0 && size > have.budget {
		problems = append(problems, fmt.Sprintf("%s is %s stripped, over its budget of %s (size-budget in %s): shrink it, or raise the budget there as a reviewed change",
			name, mb(size), mb(have.budget), path))
	}
	return problems, nil
}

// linked returns the packages the main package in dir links (for
// darwin/arm64), and each package's imports, for explaining a chain.
func linked(dir, tags string) ([]string, map[string][]string, error) {
	cmd := exec.Command("go", "list", "-deps", "-tags", tags,
		"-f", `{{if .Standard}}std {{else}}ext {{end}}{{.ImportPath}} {{join .Imports " "}}`, dir)
	cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go list: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var deps []string
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kind, pkg := f[0], f[1]
		imports[pkg] = f[2:]
		if kind == "std" && (pkg == "internal" || strings.HasPrefix(pkg, "internal/") ||
			strings.Contains(pkg, "/internal/") || strings.HasSuffix(pkg, "/internal") || strings.HasPrefix(pkg, "vendor/")) {
			continue
		}
		deps = append(deps, pkg)
	}
	slices.Sort(deps)
	return deps, imports, nil
}

// chain is a shortest import path from the main package to target.
func chain(dir string, target string, imports map[string][]string) []string {
	// The main package is the one nothing else imports.
	imported := map[string]bool{}
	for _, ims := range imports {
		for _, i := range ims {
			imported[i] = true
		}
	}
	var root string
	for p := range imports {
		if !imported[p] && strings.HasSuffix(p, "/"+filepath.Base(dir)) {
			root = p
		}
	}
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == target {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append([]string{p}, path...)
			}
			return path
		}
		for _, i := range imports[p] {
			if _, seen := prev[i]; !seen {
				prev[i] = p
				queue = append(queue, i)
			}
		}
	}
	return []string{"(chain not found)", target}
}

func readList(path string) (list, error) {
	var l list
	f, err := os.Open(path)
	if err != nil {
		return l, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "size-budget "):
			b, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "size-budget ")), 10, 64)
			if err != nil {
				return l, fmt.Errorf("%s:%d: size-budget: %w", path, n, err)
			}
			l.budget = b
		case strings.HasPrefix(line, "forbid "):
			l.forbid = append(l.forbid, strings.TrimSpace(strings.TrimPrefix(line, "forbid ")))
		default:
			l.deps = append(l.deps, line)
		}
	}
	slices.Sort(l.deps)
	return l, sc.Err()
}

func writeList(path, name string, l list) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: the packages it links (go list -deps, darwin/arm64; the standard\n", name)
	fmt.Fprintf(&b, "# library's internal packages left out) and its size budget, stripped.\n")
	fmt.Fprintf(&b, "# Checked by `make lint`; regenerate with `make depaware` (budget and\n")
	fmt.Fprintf(&b, "# forbid lines are kept: change them by hand, as a reviewed decision).\n")
	fmt.Fprintf(&b, "size-budget %d\n", l.budget)
	for _, f := range l.forbid {
		fmt.Fprintf(&b, "forbid %s\n", f)
	}
	for _, d := range l.deps {
		fmt.Fprintln(&b, d)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// diff returns what is in b and not a (added), and in a and not b (removed).
func diff(a, b []string) (added, removed []string) {
	for _, x := range b {
		if !slices.Contains(a, x) {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}

// maxNewBudget caps the budget a new list gets: every binary must stay
// under 10 MB stripped, so a 9.2 MB binary does not get a 10.2 MB budget.
const maxNewBudget = 9_900_000

// newBudget is a new binary's budget: its size plus 10%, at most
// maxNewBudget.
func newBudget(size int64) int64 {
	return min(roundUp(size+size/10, 100_000), maxNewBudget)
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

func mb(n int64) string { return fmt.Sprintf("%.2f MB (%d bytes)", float64(n)/1e6, n) }
