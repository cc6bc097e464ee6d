package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const hashbenchOut = `measurement                                  ours         openssl      ours/openssl  target
1 file of 64 MiB, 1 core                     1595.4 MB/s  1255.4 MB/s  1.27x         >= 0.90x
4 files of 8 MiB, 2 worker(s)                1385.9 MB/s  1084.1 MB/s  1.28x         >= 1.80x (below)
cached re-check, 5 unchanged files (96 MiB)  4.8 ms       -            -             
peak RSS hashing 8 MiB                       4.0 MiB      n/a          -             

2 CPUs, linux/amd64, go1.26.8; MB = 10^6 bytes; best of the runs; files in the page cache.
`

func TestParseHashbench(t *testing.T) {
	rows, err := parseHashbench(hashbenchOut)
	if err != nil {
		t.Fatal(err)
	}
	want := []hashRow{
		{What: "1 file of 64 MiB, 1 core", Ours: 1595.4, Base: 1255.4, Unit: "MB/s", Ratio: "1.27x", Tgt: ">= 0.90x"},
		{What: "4 files of 8 MiB, 2 worker(s)", Ours: 1385.9, Base: 1084.1, Unit: "MB/s", Ratio: "1.28x", Tgt: ">= 1.80x (below)"},
		{What: "cached re-check, 5 unchanged files (96 MiB)", Ours: 4.8, Unit: "ms", Ratio: "-"},
		{What: "peak RSS hashing 8 MiB", Ours: 4.0, Unit: "MiB", Ratio: "-"},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
	for name, bad := range map[string]string{
		"no table":     "writing 1 GiB ...\n",
		"short row":    "measurement  ours\nsomething  12 MB/s\n",
		"not a number": "measurement  ours  openssl  ratio\nx  fast MB/s  1 MB/s  1x\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseHashbench(bad); err == nil {
				t.Fatalf("parsed %q", bad)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"empty", nil, 0},
		{"odd", []time.Duration{5, 1, 3}, 3},
		{"even", []time.Duration{4, 1, 3, 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Fatalf("median = %v, want %v", got, tc.want)
			}
		})
	}
}

// benchLine is the Go benchmark format benchstat reads: name, iterations,
// then value-unit pairs.
var benchLine = regexp.MustCompile(`^Benchmark[^\s]+\t\d+(\t[0-9.e+-]+ [^\s]+)+$`)

// TestRunEndToEnd runs the whole command against a bin directory whose
// "probes" are true(1) (they exit 0 like a healthy tick), so the machinery
// (interleaved timing, the launcher, sizes, the saved files) is exercised
// without the real probes. It asserts on the shape of the results only.
func TestRunEndToEnd(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	data, err := os.ReadFile(truePath)
	if err != nil {
		t.Skip(err)
	}
	bin, out := t.TempDir(), t.TempDir()
	for _, name := range []string{"council-guardian", "council-canary", "council-parity-smoke", "council-sim", "fake-systemctl", "fake-journalctl"} {
		if err := os.WriteFile(filepath.Join(bin, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-bin", bin, "-out", out, "-n", "2", "-no-hash", "-repo", "../../.."}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	text := stdout.String()
	needs := []string{"guardian tick, wall", "guardian tick, CPU", "canary tick, wall", "council-guardian", "floor:", "skipped (-no-hash)",
		"parity-smoke tick, 10 prompts, CPU", "well under 1s CPU ok"}
	if _, err := exec.LookPath("curl"); err == nil {
		if _, err := exec.LookPath("jq"); err == nil {
			needs = append(needs, "< 1x")
		}
	}
	for _, want := range needs {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "council-sim") {
		t.Errorf("the simulator is listed among the shipped binaries:\n%s", text)
	}
	bench, err := os.ReadFile(filepath.Join(out, "latest.bench"))
	if err != nil {
		t.Fatal(err)
	}
	var tick, size int
	for _, l := range strings.Split(strings.TrimSpace(string(bench)), "\n") {
		if !strings.HasPrefix(l, "Benchmark") {
			continue
		}
		if !benchLine.MatchString(l) {
			t.Errorf("not a benchmark line: %q", l)
		}
		if strings.HasPrefix(l, "BenchmarkTick/guardian-") {
			tick++
		}
		if strings.HasPrefix(l, "BenchmarkBinarySize/council-guardian") {
			size++
		}
	}
	if tick != 2 || size != 1 {
		t.Errorf("latest.bench has %d guardian tick samples (want 2) and %d size lines (want 1):\n%s", tick, size, bench)
	}
	txts, _ := filepath.Glob(filepath.Join(out, "*.txt"))
	if len(txts) != 1 {
		t.Errorf("want one timestamped .txt, got %v", txts)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"zero runs":  {"-n", "0"},
		"extra arg":  {"surplus"},
		"no bin dir": {"-bin", filepath.Join(t.TempDir(), "missing"), "-no-hash"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code == 0 {
				t.Fatalf("exit 0 for %v", args)
			}
		})
	}
}

// TestParityAnswersCoverTheDefaultSet: the simulator gets an answer for
// every built-in prompt, keyed by the prompt's full text.
func TestParityAnswersCoverTheDefaultSet(t *testing.T) {
	a, err := parityAnswers("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 10 {
		t.Errorf("%d answers, want one for each of the 10 default prompts", len(a))
	}
	if got := a["What is 17 + 25? Answer with the number only."]; got != "42" {
		t.Errorf("arith-add answered %q, want 42", got)
	}
	if _, err := parityAnswers(t.TempDir()); err == nil {
		t.Error("no error without the prompt files")
	}
}

func TestMissed(t *testing.T) {
	ms := func(d ...time.Duration) []sample {
		var s []sample
		for _, x := range d {
			s = append(s, sample{Wall: x, CPU: x})
		}
		return s
	}
	guardian := pair{Name: "guardian tick", Bench: "Tick/guardian"}
	parity := pair{Name: "parity-smoke tick", Bench: "Tick/parity", NoBase: "none", CPUTarget: time.Second}
	for _, tc := range []struct {
		name string
		r    report
		want []string // substrings, one per missed target
	}{
		{"all met", report{
			Pairs: []pairResult{{pair: guardian, Ours: ms(5 * time.Millisecond), BaseS: ms(20 * time.Millisecond)},
				{pair: parity, Ours: ms(30 * time.Millisecond)}},
			RSS:   []rssResult{{Binary: "council-guardian", Bytes: 11e6}},
			Sizes: []sizeResult{{Binary: "council-guardian", Bytes: 9e6}},
			Hash:  hashResult{Rows: []hashRow{{What: "1 file", Ratio: "1.10x", Tgt: ">= 0.90x"}}},
		}, nil},
		{"each missed", report{
			Pairs: []pairResult{{pair: guardian, Ours: ms(30 * time.Millisecond), BaseS: ms(20 * time.Millisecond)},
				{pair: parity, Ours: ms(1500 * time.Millisecond)}},
			RSS:   []rssResult{{Binary: "council-guardian", Bytes: 21e6}},
			Sizes: []sizeResult{{Binary: "council-drift", Bytes: 10.5e6}},
			Hash:  hashResult{Rows: []hashRow{{What: "4 files", Ratio: "1.28x", Tgt: ">= 1.80x (below)"}}},
		}, []string{"guardian tick, wall", "guardian tick, CPU", "parity-smoke tick, CPU", "peak RSS of council-guardian",
			"size of council-drift", "hashing 4 files"}},
		{"pace's own bars: 20 ms of CPU, 15 MB", report{
			Pairs: []pairResult{{pair: pair{Name: "pace tick", Bench: "Tick/pace", NoBase: "none", CPUTarget: paceCPUTarget}, Ours: ms(25 * time.Millisecond)}},
			RSS:   []rssResult{{Binary: "council-pace", Bytes: 16e6, Target: paceRSSTarget}, {Binary: "council-canary", Bytes: 16e6}},
		}, []string{"pace tick, CPU 25.00 ms (well under 20ms CPU)", "peak RSS of council-pace 16.0 MB (< 15 MB)"}},
		{"unmeasured is not missed", report{
			Pairs: []pairResult{{pair: pair{Name: "guardian tick", Bench: "Tick/guardian", Missing: "not built"}},
				{pair: parity, Err: "exited 2"}},
			RSS: []rssResult{{Binary: "council-guardian", Err: "setup: no git"}},
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.Missed()
			if len(got) != len(tc.want) {
				t.Fatalf("missed %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("missed[%d] = %q, want it to name %q", i, got[i], w)
				}
			}
			text := tc.r.Text()
			if strings.Contains(text, "MISSED") != (len(tc.want) > 0) {
				t.Errorf("the table's MISSED marks disagree with Missed() %q:\n%s", got, text)
			}
		})
	}
}

// TestStrict: a missed target (a "binary" past 10 MB) leaves the exit
// status at 0 by default and makes it 1 with -strict.
func TestStrict(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	data, err := os.ReadFile(truePath)
	if err != nil {
		t.Skip(err)
	}
	bin := t.TempDir()
	for name, body := range map[string][]byte{
		"council-guardian": data,
		// still runs: the padding past the ELF's segments is never loaded
		"council-status": append(append([]byte(nil), data...), make([]byte, 11e6)...),
	} {
		if err := os.WriteFile(filepath.Join(bin, name), body, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{{"default", nil, 0}, {"strict", []string{"-strict"}, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"-bin", bin, "-out", t.TempDir(), "-n", "1", "-no-hash"}, tc.args...)
			if code := run(args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), "size of council-status") {
				t.Errorf("the table does not list the missed size target:\n%s", stdout.String())
			}
			if tc.code != 0 && !strings.Contains(stderr.String(), "-strict: 1 target(s) missed: size of council-status") {
				t.Errorf("stderr does not say why -strict failed:\n%s", stderr.String())
			}
		})
	}
}
