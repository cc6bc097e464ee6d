package proccpu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The fixture proc root holds a server (4242) with a worker child (4250,
// as `ollama runner` is to `ollama serve`), the worker's own child (4251),
// an ended child not yet reaped (4252), an unrelated process (4260) and an
// unrelated zombie (4245).
func TestReadProcTableAndTree(t *testing.T) {
	procs, err := ReadProcTable(filepath.Join("testdata", "proc"))
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 6 {
		t.Fatalf("table has %d processes, want 6: %+v", len(procs), procs)
	}
	tree, ok := Tree(procs, 4242)
	if !ok {
		t.Fatal("4242 not found")
	}
	var pids []int
	var cpu time.Duration
	for _, p := range tree {
		pids = append(pids, p.PID)
		cpu += p.CPU
	}
	if len(pids) != 4 || pids[0] != 4242 {
		t.Fatalf("tree = %v, want 4242 first and its 3 descendants", pids)
	}
	if want := (1801 + 5700 + 320 + 10) * 10 * time.Millisecond; cpu != want {
		t.Errorf("tree cpu = %s, want %s", cpu, want)
	}
	// uptime 1000.5 s, 4242 started 519.71 s after boot.
	if tree[0].Age != 480790*time.Millisecond {
		t.Errorf("age of 4242 = %s", tree[0].Age)
	}
	if _, ok := Tree(procs, 4245); ok {
		t.Error("a zombie is not a running server")
	}
	if _, ok := Tree(procs, 9999); ok {
		t.Error("a missing pid has no tree")
	}

	r := &Reader{ProcRoot: filepath.Join("testdata", "proc")}
	if got, err := r.TreeCPUTime(context.Background(), 4242); err != nil || got != cpu {
		t.Errorf("TreeCPUTime = %s, %v", got, err)
	}
	if _, err := r.TreeOf(context.Background(), 9999); !errors.Is(err, ErrNoProcess) {
		t.Errorf("missing pid: %v", err)
	}
}

// A parent cycle or a pid listed twice never loops or doubles.
func TestTreeCycles(t *testing.T) {
	procs := []Proc{{PID: 10, PPID: 11}, {PID: 11, PPID: 10}, {PID: 12, PPID: 10}, {PID: 12, PPID: 11}, {PID: 13, PPID: 13}}
	tree, ok := Tree(procs, 10)
	if !ok || len(tree) != 3 {
		t.Fatalf("tree = %+v, %v", tree, ok)
	}
}

// treeCPU: children that come and go in the window never make the sample
// negative, and a process the first reading missed is not counted for
// its whole life.
func TestTreeCPU(t *testing.T) {
	s := time.Second
	window := 10 * s
	for _, tc := range []struct {
		name          string
		before, after []Proc
		want          time.Duration
	}{
		{"serve idle, runner busy",
			[]Proc{{PID: 1, Age: 100 * s, CPU: 5 * s}, {PID: 2, PPID: 1, Age: 90 * s, CPU: 60 * s}},
			[]Proc{{PID: 1, Age: 110 * s, CPU: 5*s + 100*time.Millisecond}, {PID: 2, PPID: 1, Age: 100 * s, CPU: 70 * s}},
			10*s + 100*time.Millisecond},
		{"child ended in the window",
			[]Proc{{PID: 1, Age: 100 * s, CPU: 5 * s}, {PID: 2, PPID: 1, Age: 90 * s, CPU: 3600 * s}},
			[]Proc{{PID: 1, Age: 110 * s, CPU: 5 * s}},
			0},
		{"child started in the window",
			[]Proc{{PID: 1, Age: 100 * s, CPU: 5 * s}},
			[]Proc{{PID: 1, Age: 110 * s, CPU: 5 * s}, {PID: 3, PPID: 1, Age: 4 * s, CPU: 3 * s}},
			3 * s},
		{"old child the first reading missed",
			[]Proc{{PID: 1, Age: 100 * s, CPU: 5 * s}},
			[]Proc{{PID: 1, Age: 110 * s, CPU: 5 * s}, {PID: 4, PPID: 1, Age: 90 * s, CPU: 3600 * s}},
			0},
		{"pid reused by a young process",
			[]Proc{{PID: 1, Age: 100 * s, CPU: 5 * s}, {PID: 5, PPID: 1, Age: 50 * s, CPU: 40 * s}},
			[]Proc{{PID: 1, Age: 110 * s, CPU: 5 * s}, {PID: 5, PPID: 1, Age: 2 * s, CPU: 1 * s}},
			1 * s},
		{"cpu went back (a reading raced an exit)",
			[]Proc{{PID: 1, Age: 100 * s, CPU: 5 * s}},
			[]Proc{{PID: 1, Age: 110 * s, CPU: 4 * s}},
			0},
		{"ages unknown",
			[]Proc{{PID: 1, Age: -1, CPU: 5 * s}},
			[]Proc{{PID: 1, Age: -1, CPU: 6 * s}, {PID: 2, PPID: 1, Age: -1, CPU: 9 * s}},
			1 * s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := treeCPU(tc.before, tc.after, window); got != tc.want {
				t.Errorf("treeCPU = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParsePSTable(t *testing.T) {
	for _, file := range []string{"macos.txt", "procps.txt"} {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "pstable", file))
			if err != nil {
				t.Fatal(err)
			}
			procs, err := ParsePSTable(b)
			if err != nil {
				t.Fatal(err)
			}
			tree, ok := Tree(procs, 5012)
			if !ok || len(tree) != 3 || tree[1].PID != 5013 || tree[2].PID != 5020 {
				t.Fatalf("tree of 5012 = %+v", tree)
			}
			if tree[0].Age != 41*time.Minute+7*time.Second {
				t.Errorf("age = %s", tree[0].Age)
			}
			if tree[1].CPU < 2*time.Hour {
				t.Errorf("cpu of 5013 = %s", tree[1].CPU)
			}
		})
	}
	for _, bad := range []string{"", "\n\n", "1 0 00:01", "x 0 00:01 00:01", "1 0 00:01 garbage", "-1 0 00:01 00:01", "1 0 00:01 00:01 extra", "1 +0 00:01 00:01"} {
		if got, err := ParsePSTable([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParsePSTable(%q) = %v, %v; want ErrFormat", bad, got, err)
		}
	}
}

// The real ps of this machine, as macOS's probes run it, lists this
// process and its parent.
func TestPSTableReal(t *testing.T) {
	if _, err := exec.LookPath("ps"); err != nil {
		t.Skip("no ps on this machine")
	}
	procs, err := PSTable(context.Background(), "ps")
	if err != nil {
		t.Fatal(err)
	}
	tree, ok := Tree(procs, os.Getppid())
	if !ok {
		t.Fatalf("ps -A does not list our parent %d", os.Getppid())
	}
	found := false
	for _, p := range tree {
		found = found || p.PID == os.Getpid()
	}
	if !found {
		t.Errorf("our parent's tree %+v does not hold us (%d)", tree, os.Getpid())
	}
	if _, err := PSTable(context.Background(), filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("a missing ps is an error")
	}
}

// The defect this tree fixes: a server whose work runs in a child looked
// idle. Here a real parent sleeps while its real child spins: the
// parent's sample must show the child's CPU. On the code before the tree,
// which read only the parent's own /proc/<pid>/stat, this failed.
func TestSampleCountsTheChildsWork(t *testing.T) {
	parent, idle := helper(t, "parent-of-busy"), helper(t, "idle")
	r := New()
	ctx := context.Background()
	window := 500 * time.Millisecond
	// Give the parent the time to start its child.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if tree, err := r.TreeOf(ctx, parent); err == nil && len(tree) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the helper's child never started")
		}
	}
	up, err := r.Sample(ctx, parent, window)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := r.Sample(ctx, idle, window)
	if err != nil {
		t.Fatal(err)
	}
	if up.CPU <= ui.CPU {
		t.Fatalf("parent of a busy child used %s, an idle process %s: the child's work was not counted", up.CPU, ui.CPU)
	}
	if up.Procs < 2 || ui.Procs != 1 {
		t.Errorf("procs: parent tree %d, idle %d", up.Procs, ui.Procs)
	}
}
