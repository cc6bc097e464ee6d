package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The outputs under testdata are real: race.txt is what CI printed when
// Go's coordinator failed FuzzParseJournal with nothing found; crasher.txt
// and seed.txt are `go test -fuzz` on a planted bug (a new failing input
// found, then the same input failing as a seed).
func TestToolchainRace(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	race := read("race.txt")
	for _, tc := range []struct {
		what   string
		out    []byte
		target string
		want   bool
	}{
		{"CI's bare deadline, nothing written", race, "FuzzParseJournal", true},
		{"the race's output read for another target", race, "FuzzParseShow", false},
		{"a failing input found and written", read("crasher.txt"), "FuzzPlanted", false},
		{"a seed that fails", read("seed.txt"), "FuzzPlanted", false},
		{"the target's own failure says deadline", bytes.Replace(race, []byte("    context deadline exceeded"),
			[]byte("    --- FAIL: FuzzParseJournal (0.00s)\n        x_test.go:9: context deadline exceeded"), 1), "FuzzParseJournal", false},
		{"the deadline and another message", bytes.Replace(race, []byte("    context deadline exceeded"),
			[]byte("    context deadline exceeded\n    fuzzing process hung or terminated unexpectedly: exit status 2"), 1), "FuzzParseJournal", false},
		{"no failure block at all", []byte("exit status 1\nFAIL\tx\t0.1s\n"), "FuzzParseJournal", false},
	} {
		if got := toolchainRace(tc.out, tc.target); got != tc.want {
			t.Errorf("%s: toolchainRace = %v, want %v", tc.what, got, tc.want)
		}
	}
}

// fakeGo writes a `go` that lists one package with one target (FuzzA) and
// answers the fuzz runs in the order of plan: "pass", or a testdata
// output's name ("race", "crasher"), which fails. It logs every call.
func fakeGo(t *testing.T, plan ...string) (goCmd, calls string) {
	t.Helper()
	dir := t.TempDir()
	td, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plan"), []byte(strings.Join(plan, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	calls = filepath.Join(dir, "calls")
	script := `#!/bin/sh
echo "$*" >>'` + calls + `'
case "$1" in
list) echo example.com/m/p; exit 0 ;;
esac
if [ "$2" = -list ]; then echo FuzzA; echo 'ok  	example.com/m/p	0.01s'; exit 0; fi
n=$(grep -c -- -fuzz '` + calls + `')
mode=$(sed -n "${n}p" '` + filepath.Join(dir, "plan") + `')
if [ "$mode" = pass ]; then echo PASS; echo 'ok  	example.com/m/p	3.0s'; exit 0; fi
sed 's/FuzzParseJournal/FuzzA/; s/FuzzPlanted/FuzzA/' '` + td + `'/"$mode".txt
exit 1
`
	goCmd = filepath.Join(dir, "go")
	if err := os.WriteFile(goCmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return goCmd, calls
}

func TestRunRetriesOnlyTheRace(t *testing.T) {
	for _, tc := range []struct {
		plan      []string
		wantCode  int
		wantFuzz  int // fuzz runs with the budget given
		wantRetry int // fuzz runs for the 5704 inputs race.txt tried
		wantInOut string
	}{
		{[]string{"pass"}, 0, 1, 0, "1 targets, 0 run again"},
		{[]string{"race", "pass"}, 0, 1, 1, "1 targets, 1 run again"},
		{[]string{"race", "race"}, 1, 1, 1, ""},
		{[]string{"race", "crasher"}, 1, 1, 1, ""},
		{[]string{"crasher", "pass"}, 1, 1, 0, ""},
		{[]string{"seed", "pass"}, 1, 1, 0, ""},
	} {
		t.Run(strings.Join(tc.plan, "-"), func(t *testing.T) {
			goCmd, calls := fakeGo(t, tc.plan...)
			var out, errOut bytes.Buffer
			code := run([]string{"-go", goCmd, "-fuzztime", "7x", t.TempDir()}, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out.String(), errOut.String())
			}
			b, err := os.ReadFile(calls)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "-fuzz ^FuzzA$ -fuzztime 7x example.com/m/p"); n != tc.wantFuzz {
				t.Errorf("%d fuzz runs, want %d; calls:\n%s", n, tc.wantFuzz, b)
			}
			if n := strings.Count(string(b), "-fuzz ^FuzzA$ -fuzztime 5704x example.com/m/p"); n != tc.wantRetry {
				t.Errorf("%d runs again for 5704 inputs (no deadline), want %d; calls:\n%s", n, tc.wantRetry, b)
			}
			if !strings.Contains(out.String(), tc.wantInOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantInOut, out.String())
			}
			if tc.wantCode != 0 && !strings.Contains(errOut.String(), "FuzzA failed") {
				t.Errorf("stderr does not name the failing target:\n%s", errOut.String())
			}
		})
	}
}

func TestCountBudget(t *testing.T) {
	race, err := os.ReadFile(filepath.Join("testdata", "race.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		out, want string
	}{
		{string(race), "5704x"}, // the last progress line's count
		{"fuzz: elapsed: 0s, gathering baseline coverage: 0/168 completed\n", "3s"},
		{"fuzz: elapsed: 3s, execs: 0 (0/sec), new interesting: 0\n", "3s"},
	} {
		if got := countBudget([]byte(tc.out), "3s"); got != tc.want {
			t.Errorf("countBudget(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

func TestRunRefusesNoModule(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "module directory") {
		t.Fatalf("exit %d, stderr %q; want 2 and a clear error", code, errOut.String())
	}
}
