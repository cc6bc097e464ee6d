// Package proccpu measures how much CPU time a process and its children
// have used, so a probe can tell a server that is working (busy CPU) from
// one that is wedged (idle CPU) while both leave a request unanswered.
// Sample measures the process's whole tree: a server's work often runs in
// a child (Ollama's `ollama runner` under `ollama serve`).
//
// Where the CPU time comes from depends on the system:
//
//   - Linux: /proc/<pid>/stat, fields utime and stime (and ppid and start
//     time for the tree), read under a proc root that is a parameter
//     (tests point it at fixtures); the tree comes from a scan of every
//     /proc/<pid>/stat, which needs no kernel option (the
//     /proc/<pid>/task/<tid>/children files do: CONFIG_PROC_CHILDREN).
//   - macOS: golang.org/x/sys/unix offers kern.proc.pid (SysctlKinfoProc),
//     but its extern_proc tick fields are not filled in by current kernels
//     and x/sys has no proc_pidinfo, so the times come from ps, run by argv
//     and parsed here: `ps -o cputime= -p <pid>` for one process, `ps -A -o
//     pid=,ppid=,etime=,cputime=` for the table (one exec).
//   - elsewhere: `ps` as on macOS.
//
// The parsers are pure functions in untagged files, tested on Linux.
package proccpu

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoProcess is wrapped when the process does not exist (any more).
var ErrNoProcess = errors.New("no such process")

// ErrFormat is wrapped when a /proc or ps output is not in the expected
// format.
var ErrFormat = errors.New("unrecognised cpu time format")

// Reader reads a process's cumulative CPU time (user + system).
type Reader struct {
	// ProcRoot is the proc file system (Linux): "/proc" by default.
	ProcRoot string
	// PS is the ps binary used where there is no proc file system.
	PS string
	// Now and Sleep are the clock, for Sample.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Reader with the system's defaults.
func New() *Reader {
	return &Reader{ProcRoot: "/proc", PS: "ps", Now: time.Now, Sleep: sleep}
}

// CPUTime returns pid's cumulative CPU time (user + system).
func (r *Reader) CPUTime(ctx context.Context, pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, ErrNoProcess)
	}
	return r.cpuTime(ctx, pid)
}

// Usage is the CPU a process tree used over a window.
type Usage struct {
	PID    int
	CPU    time.Duration // CPU time the tree used during the window
	Window time.Duration // wall time between the two readings
	// Procs is how many processes the tree held at the end of the
	// window, the sampled process included.
	Procs int
}

// Cores is the average number of cores the tree kept busy: 1.0 is one
// core flat out. Zero when the window is empty.
func (u Usage) Cores() float64 {
	if u.Window <= 0 {
		return 0
	}
	return float64(u.CPU) / float64(u.Window)
}

// Below reports whether the tree used less than frac of one core.
func (u Usage) Below(frac float64) bool { return u.Cores() < frac }

// Sample measures how much CPU time pid and its descendants used over
// window: one reading of the process table, a wait, a second reading (see
// treeCPU for children that start or end inside the window). pid itself
// ending during the window is an error wrapping ErrNoProcess; a child
// ending is not.
func (r *Reader) Sample(ctx context.Context, pid int, window time.Duration) (Usage, error) {
	u := Usage{PID: pid}
	before, err := r.TreeOf(ctx, pid)
	if err != nil {
		return u, err
	}
	start := r.Now()
	if err := r.Sleep(ctx, window); err != nil {
		return u, fmt.Errorf("cpu sample of pid %d: %w", pid, err)
	}
	after, err := r.TreeOf(ctx, pid)
	if err != nil {
		return u, err
	}
	u.Window = r.Now().Sub(start)
	u.CPU = treeCPU(before, after, u.Window)
	u.Procs = len(after)
	return u, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
