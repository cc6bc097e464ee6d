package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The pace row's split comes from the ticks' own tick_done events: other
// probes' events, other events and lines without the fields are ignored.
func TestReadSelfCPU(t *testing.T) {
	log := filepath.Join(t.TempDir(), "bench.log")
	lines := []string{
		`{"event":"tick_done","probe":"pace","cpu_ms":25,"startup_cpu_ms":14}`,
		`{"event":"tick_done","probe":"canary","cpu_ms":90,"startup_cpu_ms":80}`,
		`{"event":"pace_sample","probe":"pace","cpu_ms":99,"startup_cpu_ms":99}`,
		`{"event":"tick_done","probe":"pace","cpu_ms":27,"startup_cpu_ms":13}`,
		`not json`,
		`{"event":"tick_done","probe":"pace"}`,
		`{"event":"tick_done","probe":"pace","cpu_ms":31,"startup_cpu_ms":15}`,
	}
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := readSelfCPU(log, "pace")
	want := selfCPU{N: 3, Total: 27 * time.Millisecond, Start: 14 * time.Millisecond}
	if got != want {
		t.Fatalf("readSelfCPU = %+v, want %+v", got, want)
	}
	if n := got.note("pace tick"); !strings.Contains(n, "median of 3") || !strings.Contains(n, "about 13.00 ms") {
		t.Errorf("note = %q", n)
	}
	if s := readSelfCPU(filepath.Join(t.TempDir(), "absent.log"), "pace"); s.Err == "" {
		t.Error("a missing log read as a measurement")
	}
}
