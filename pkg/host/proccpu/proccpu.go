// Package proccpu measures how much CPU time a process has used, so a probe
// can tell a server that is working (busy CPU) from one that is wedged
// (idle CPU) while both leave a request unanswered.
//
// Where the CPU time comes from depends on the system:
//
//   - Linux: /proc/<pid>/stat, fields utime and stime, read under a proc
//     root that is a parameter (tests point it at fixtures).
//   - macOS: golang.org/x/sys/unix offers kern.proc.pid (SysctlKinfoProc),
//     but its extern_proc tick fields are not filled in by current kernels
//     and x/sys has no proc_pidinfo, so the time comes from
//     `ps -o cputime= -p <pid>`, run by argv and parsed here.
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

// Usage is the CPU a process used over a window.
type Usage struct {
	PID    int
	CPU    time.Duration // CPU time used during the window
	Window time.Duration // wall time between the two readings
}

// Cores is the average number of cores the process kept busy: 1.0 is one
// core flat out. Zero when the window is empty.
func (u Usage) Cores() float64 {
	if u.Window <= 0 {
		return 0
	}
	return float64(u.CPU) / float64(u.Window)
}

// Below reports whether the process used less than frac of one core.
func (u Usage) Below(frac float64) bool { return u.Cores() < frac }

// Sample measures how much CPU time pid used over window: one reading,
// a wait, a second reading. A process that went away during the window
// is an error wrapping ErrNoProcess.
func (r *Reader) Sample(ctx context.Context, pid int, window time.Duration) (Usage, error) {
	u := Usage{PID: pid}
	before, err := r.CPUTime(ctx, pid)
	if err != nil {
		return u, err
	}
	start := r.Now()
	if err := r.Sleep(ctx, window); err != nil {
		return u, fmt.Errorf("cpu sample of pid %d: %w", pid, err)
	}
	after, err := r.CPUTime(ctx, pid)
	if err != nil {
		return u, err
	}
	u.Window = r.Now().Sub(start)
	u.CPU = max(after-before, 0)
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
