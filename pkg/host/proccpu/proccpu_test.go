package proccpu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		file string
		want time.Duration
		err  error
	}{
		{"stat-server.txt", (1234 + 567) * 10 * time.Millisecond, nil},
		{"stat-parens.txt", 8 * 10 * time.Millisecond, nil},
		{"stat-idle.txt", 0, nil},
		{"stat-short.txt", 0, ErrFormat},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseStat(b)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("ParseStat = %s, %v; want %s, %v", got, err, tc.want, tc.err)
			}
		})
	}
	for _, bad := range []string{"", "no parens at all", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 3 0 0"} {
		if _, err := ParseStat([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseStat(%q) err = %v, want ErrFormat", bad, err)
		}
	}
}

func TestReadStatUnderProcRoot(t *testing.T) {
	root := filepath.Join("testdata", "proc")
	got, err := ReadStat(root, 4242)
	if err != nil || got != 18010*time.Millisecond {
		t.Fatalf("ReadStat = %s, %v", got, err)
	}
	if _, err := ReadStat(root, 9999); !errors.Is(err, ErrNoProcess) {
		t.Errorf("missing pid: err = %v, want ErrNoProcess", err)
	}
	if _, err := ReadStat(root, 4245); !errors.Is(err, ErrNoProcess) {
		t.Errorf("zombie: err = %v, want ErrNoProcess", err)
	}
}

func TestParsePSCPUTime(t *testing.T) {
	for _, tc := range []struct {
		file string
		want time.Duration
	}{
		{"macos-seconds.txt", 1230 * time.Millisecond},
		{"macos-hours.txt", time.Hour + 2*time.Minute + 3450*time.Millisecond},
		{"macos-long-minutes.txt", 123*time.Minute + 45670*time.Millisecond},
		{"procps.txt", 5 * time.Second},
		{"procps-days.txt", 26*time.Hour + 3*time.Minute + 4*time.Second},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "ps", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParsePSCPUTime(b)
			if err != nil || got != tc.want {
				t.Fatalf("ParsePSCPUTime(%q) = %s, %v; want %s", b, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "  \n", "5", "1:2:3:4", "0:61", "a:b", "-1:00", "1-00:01", "0:01.", "0:01.1234567890", "0:-1", "1--0:00:00",
		"107000-0:0:0", // found by FuzzParsePSCPUTime: 107000 days wrapped a Duration negative
	} {
		if d, err := ParsePSCPUTime([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParsePSCPUTime(%q) = %s, %v; want ErrFormat", bad, d, err)
		}
	}
}

// TestParsePSCPUTimeBounds: the longest CPU time a Duration holds
// parses; one day more is ErrFormat, never a negative time.
func TestParsePSCPUTimeBounds(t *testing.T) {
	if d, err := ParsePSCPUTime([]byte("106751-00:00:00")); err != nil || d != 106751*24*time.Hour {
		t.Fatalf("106751 days = %s, %v; want 106751*24h", d, err)
	}
	if d, err := ParsePSCPUTime([]byte("106752-00:00:00")); !errors.Is(err, ErrFormat) {
		t.Fatalf("106752 days = %s, %v; want ErrFormat", d, err)
	}
}

// TestParseUptime: /proc/uptime's first field, bounded so that it never
// wraps a Duration negative.
func TestParseUptime(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "proc", "uptime"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := ParseUptime(b); err != nil || d != 1000500*time.Millisecond {
		t.Fatalf("ParseUptime(%q) = %s, %v; want 1000.5s", b, d, err)
	}
	if d, err := ParseUptime([]byte("999999999.999999999 1.00\n")); err != nil || d <= 0 {
		t.Fatalf("31 years up = %s, %v; want a positive time", d, err)
	}
	for _, bad := range []string{"", "\n", "x 1.00", "-1.00 1.00", "1.-5", "1.1234567890",
		"9999999999.00 1.00", // ten digits of seconds can wrap a Duration
	} {
		if d, err := ParseUptime([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseUptime(%q) = %s, %v; want ErrFormat", bad, d, err)
		}
	}
}

// writeFakePS writes a ps that prints out and exits with code.
func writeFakePS(t *testing.T, out string, code int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ps")
	script := "#!/bin/sh\nprintf '%s' '" + out + "'\nexit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPSCPUTime(t *testing.T) {
	ctx := context.Background()
	if got, err := PSCPUTime(ctx, writeFakePS(t, "  0:01.23\n", 0), 42); err != nil || got != 1230*time.Millisecond {
		t.Fatalf("PSCPUTime = %s, %v", got, err)
	}
	// ps's answer for a pid that does not exist: no output, exit 1.
	if _, err := PSCPUTime(ctx, writeFakePS(t, "", 1), 42); !errors.Is(err, ErrNoProcess) {
		t.Errorf("gone: err = %v, want ErrNoProcess", err)
	}
	if _, err := PSCPUTime(ctx, writeFakePS(t, "garbage", 0), 42); !errors.Is(err, ErrFormat) {
		t.Errorf("garbage: err = %v, want ErrFormat", err)
	}
	if _, err := PSCPUTime(ctx, filepath.Join(t.TempDir(), "nope"), 42); err == nil || errors.Is(err, ErrNoProcess) {
		t.Errorf("missing ps: err = %v, want an error that is not ErrNoProcess", err)
	}
	// The real ps, on this machine, about this process.
	if _, err := exec.LookPath("ps"); err == nil {
		if _, err := PSCPUTime(ctx, "ps", os.Getpid()); err != nil {
			t.Errorf("real ps: %v", err)
		}
	}
}

// The helper process: GO_PROCCPU_HELPER=busy spins, =idle sleeps.
func TestMain(m *testing.M) {
	switch os.Getenv("GO_PROCCPU_HELPER") {
	case "busy":
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		}
		os.Exit(0)
	case "idle":
		time.Sleep(60 * time.Second)
		os.Exit(0)
	case "parent-of-busy":
		// Idle itself, with a busy child: a server whose work runs in a
		// worker process.
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), "GO_PROCCPU_HELPER=busy")
		if err := child.Start(); err != nil {
			os.Exit(2)
		}
		go func() { child.Wait(); os.Exit(0) }()
		time.Sleep(60 * time.Second)
		child.Process.Kill()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helper(t *testing.T, mode string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GO_PROCCPU_HELPER="+mode)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The parent-of-busy helper's child leads no group of its own:
		// kill the children first, then the helper.
		if tree, err := New().TreeOf(context.Background(), cmd.Process.Pid); err == nil {
			for _, p := range tree[1:] {
				syscall.Kill(p.PID, syscall.SIGKILL)
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// A real busy process uses more CPU over a window than a real idle one.
// No thresholds: the machine may be shared and slow.
func TestSampleBusyVersusIdle(t *testing.T) {
	busy, idle := helper(t, "busy"), helper(t, "idle")
	r := New()
	ctx := context.Background()
	window := 500 * time.Millisecond
	ub, err := r.Sample(ctx, busy, window)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := r.Sample(ctx, idle, window)
	if err != nil {
		t.Fatal(err)
	}
	if ub.CPU <= ui.CPU {
		t.Fatalf("busy child used %s, idle child %s (GOOS %s)", ub.CPU, ui.CPU, runtime.GOOS)
	}
	if ub.Window <= 0 || ub.Cores() <= ui.Cores() {
		t.Fatalf("cores: busy %.3f idle %.3f", ub.Cores(), ui.Cores())
	}
}

func TestSampleOfAGoneProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := New().Sample(context.Background(), cmd.Process.Pid, time.Millisecond); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("err = %v, want ErrNoProcess", err)
	}
	if _, err := New().CPUTime(context.Background(), 0); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("pid 0: err = %v", err)
	}
}

func TestSampleCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New().Sample(ctx, os.Getpid(), time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestUsage(t *testing.T) {
	u := Usage{CPU: 100 * time.Millisecond, Window: 10 * time.Second}
	if c := u.Cores(); c != 0.01 {
		t.Fatalf("Cores = %v", c)
	}
	if !u.Below(0.02) || u.Below(0.01) {
		t.Fatal("Below is wrong at the edge")
	}
	if (Usage{}).Cores() != 0 {
		t.Fatal("empty window")
	}
}

// Self counts this process's own CPU: busy work makes it grow, and it never
// goes back. (No timing bar: the loop runs until Self moves, bounded.)
func TestSelfGrowsWithWork(t *testing.T) {
	before, ok := Self()
	if !ok {
		t.Skip("no getrusage on this system")
	}
	x, last := uint64(1), before
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		now, _ := Self()
		if now < last {
			t.Fatalf("Self went back from %s to %s", last, now)
		}
		if last = now; now-before >= 5*time.Millisecond {
			return
		}
	}
	t.Errorf("Self stayed at %s through 30 s of busy work (x=%d)", last, x)
}
