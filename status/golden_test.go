package status

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestDemoScreenGolden pins the screen an operator reads at the end of
// `make demo`: a deployed plist has drifted, the repository is dirty, every
// other probe is healthy. testdata/demo-end holds that run's state files and
// logs, with the demo's $HOME rewritten to /Users/operator. At 100 columns
// no line is wider than the screen and the drift shows once, as a row and
// one line per channel; --wide shows every path and sum in full.
// Regenerate with: go test -run TestDemoScreenGolden -update
func TestDemoScreenGolden(t *testing.T) {
	dir := filepath.Join("testdata", "demo-end")
	cfg := Config{
		StateDir: filepath.Join(dir, "state"), LogDir: filepath.Join(dir, "logs"),
		FallbackLock: filepath.Join(dir, "state", "council-fallback.lock"),
		Probes:       DefaultProbes,
		Now:          func() time.Time { return time.Date(2026, 12, 2, 16, 20, 34, 0, time.UTC) },
	}
	r := Collect(cfg)
	if r.Exit != ExitCritical {
		t.Fatalf("the demo's end state is CRITICAL (drift), got %s", r.Result)
	}
	for _, tc := range []struct {
		golden string
		opts   TextOptions
	}{
		{"demo-100.golden", TextOptions{Width: 100}},
		{"demo-wide.golden", TextOptions{Width: 100, Wide: true}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			tc.opts.Location, tc.opts.Home = time.UTC, "/Users/operator"
			var b bytes.Buffer
			if err := WriteText(&b, r, tc.opts); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("screen differs from %s (run with -update after checking the change):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
			if tc.opts.Wide {
				return
			}
			for i, line := range strings.Split(b.String(), "\n") {
				if n := utf8.RuneCountInString(line); n > tc.opts.Width {
					t.Errorf("line %d is %d columns wide, more than %d: %q", i+1, n, tc.opts.Width, line)
				}
			}
			if strings.Contains(b.String(), "/Users/operator") {
				t.Errorf("a path under $HOME is not shown with ~")
			}
		})
	}
}

// Every line fits whatever the width, down to a narrow terminal, and the
// channel's check and file name survive the cut.
func TestScreenFitsEveryWidth(t *testing.T) {
	dir := filepath.Join("testdata", "demo-end")
	r := Collect(Config{StateDir: filepath.Join(dir, "state"), LogDir: filepath.Join(dir, "logs"), Probes: DefaultProbes,
		Now: func() time.Time { return time.Date(2026, 12, 2, 16, 20, 34, 0, time.UTC) }})
	for _, width := range []int{60, 80, 100, 132} {
		var b bytes.Buffer
		if err := WriteText(&b, r, TextOptions{Width: width, Location: time.UTC, Home: "/Users/operator"}); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(b.String(), "\n") {
			if n := utf8.RuneCountInString(line); n > width {
				t.Errorf("width %d: line is %d columns: %q", width, n, line)
			}
		}
		if !strings.Contains(b.String(), "└ drifted:") || !strings.Contains(b.String(), "com.sanctum.mlx.plist error firing") {
			t.Errorf("width %d: the drift channel lost its check or file name:\n%s", width, b.String())
		}
	}
}
