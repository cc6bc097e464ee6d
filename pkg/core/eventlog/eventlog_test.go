package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain re-executes the test binary as a second writer process: with
// EVENTLOG_HELPER=<path>, it appends EVENTLOG_LINES records and exits.
func TestMain(m *testing.M) {
	if path := os.Getenv("EVENTLOG_HELPER"); path != "" {
		n, _ := strconv.Atoi(os.Getenv("EVENTLOG_LINES"))
		f, err := OpenFile(path, 4096, 3)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		log := slog.New(NewHandler(f)).With("probe", "helper-"+strconv.Itoa(os.Getpid()))
		for i := 0; i < n; i++ {
			log.Info("line", "i", i, "pad", strings.Repeat("x", 100))
		}
		f.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestHandlerFields(t *testing.T) {
	var buf bytes.Buffer
	start := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	now := start.Add(1234 * time.Millisecond)
	log := slog.New(WithDuration(NewHandler(&buf), start, func() time.Time { return now })).With("probe", "canary")

	log.Log(context.Background(), LevelCritical, "rate_limit", "check", "rate_limit")
	log.Warn("probe_fail", "check", "unreachable", "duration_ms", 7)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %q", len(lines), buf.String())
	}
	tests := []struct {
		name string
		line string
		want map[string]any
	}{
		{"critical with tick duration", lines[0], map[string]any{"level": "critical", "event": "rate_limit", "probe": "canary", "check": "rate_limit", "duration_ms": 1234.0}},
		{"explicit duration kept", lines[1], map[string]any{"level": "warn", "event": "probe_fail", "duration_ms": 7.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal([]byte(tt.line), &m); err != nil {
				t.Fatalf("not JSON: %v: %s", err, tt.line)
			}
			for k, v := range tt.want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			ts, ok := m["ts"].(string)
			if !ok {
				t.Fatalf("no ts: %s", tt.line)
			}
			if _, err := time.Parse(time.RFC3339, ts); err != nil || !strings.Contains(ts, ".") {
				t.Errorf("ts %q is not RFC 3339 with milliseconds", ts)
			}
			for _, k := range []string{"time", "msg"} {
				if _, ok := m[k]; ok {
					t.Errorf("slog key %q leaked into the contract line", k)
				}
			}
		})
	}
}

func TestRotationBoundsDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "council-guardian.log")
	f, err := OpenFile(path, 2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(NewHandler(f))
	for i := 0; i < 500; i++ {
		log.Info("probe_ok", "i", i)
	}
	f.Close()
	var total int64
	for _, p := range []string{path, path + ".1", path + ".2", path + ".3"} {
		fi, err := os.Stat(p)
		if p == path+".3" {
			if err == nil {
				t.Fatalf("%s exists; keep=2 should have removed it", p)
			}
			continue
		}
		if err != nil {
			t.Fatalf("expected %s: %v", p, err)
		}
		if fi.Size() > 2048 {
			t.Errorf("%s is %d bytes, over the 2048 limit", p, fi.Size())
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, fi.Mode().Perm())
		}
		total += fi.Size()
	}
	// The newest line must be in the live file.
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"i":499`) {
		t.Errorf("last line not in the live file")
	}
}

// Two processes write the same log concurrently while it rotates under them:
// every line that survives rotation must be whole JSON, and the live file
// must end with whole lines.
func TestTwoWritersNoTornLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.log")
	var cmds []*exec.Cmd
	for i := 0; i < 2; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "EVENTLOG_HELPER="+path, "EVENTLOG_LINES=400")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer failed: %v", err)
		}
	}
	lines := 0
	for _, p := range []string{path, path + ".1", path + ".2", path + ".3"} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: torn line %q: %v", p, sc.Text(), err)
			}
			lines++
		}
		f.Close()
		if fi, _ := os.Stat(p); fi.Size() > 4096 {
			t.Errorf("%s grew to %d bytes past the 4096 limit", p, fi.Size())
		}
	}
	if lines == 0 {
		t.Fatal("no lines written")
	}
}

func TestWriteErrorRemembered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	f, err := OpenFile(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := f.Write([]byte("x\n")); err == nil {
		t.Fatal("write to a closed log succeeded")
	}
	if f.Err() == nil {
		t.Fatal("Err() forgot the write error")
	}
}

func TestLevelRoundTrip(t *testing.T) {
	for _, name := range []string{"info", "warn", "error", "critical"} {
		if got := LevelName(Level(name)); got != name {
			t.Errorf("LevelName(Level(%q)) = %q", name, got)
		}
	}
}

func TestOpenFileRefusesSymlinkFIFOAndDir(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.log")
	link := filepath.Join(dir, "link.log")
	os.Symlink(target, link)
	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub.log")
	os.Mkdir(sub, 0o700)
	for _, p := range []string{link, fifo, sub} {
		// A FIFO used to block here until something read it.
		if f, err := OpenFile(p, 0, 1); err == nil {
			f.Close()
			t.Errorf("OpenFile(%s) succeeded", p)
		}
	}
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("the log's symlink target was created")
	}
}
