package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// sample is one whole-process run.
type sample struct {
	Wall, CPU time.Duration
	MaxRSS    int64 // bytes; 0 when not measured
	Code      int
}

// command is a process to measure: argv and its environment.
type command struct {
	Argv []string
	Env  []string
}

func (c command) String() string { return strings.Join(c.Argv, " ") }

// measure runs c once and returns its wall time (start to reaped), CPU
// (user+sys of the child and the children it waited for) and exit code.
func measure(ctx context.Context, c command, timeout time.Duration) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = c.Env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if ctx.Err() != nil {
		return sample{}, fmt.Errorf("%s: did not finish within %s", c, timeout)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return sample{}, fmt.Errorf("%s: %w", c, err)
	}
	s := sample{Wall: wall, Code: cmd.ProcessState.ExitCode()}
	s.CPU, _ = cpuAndRSS(cmd.ProcessState)
	if s.Code < 0 {
		return s, fmt.Errorf("%s: %v: %s", c, cmd.ProcessState, firstLine(stderr.String()))
	}
	return s, nil
}

// peakRSS runs c through the launcher and returns the child's peak RSS in
// bytes and its exit code.
func peakRSS(ctx context.Context, launcher string, c command, timeout time.Duration) (int64, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, launcher, c.Argv...)
	cmd.Env = c.Env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return 0, 0, fmt.Errorf("%s: did not finish within %s", c, timeout)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("launcher for %s: %w: %s", c, err, firstLine(stderr.String()))
	}
	var rss int64
	var code int
	if _, err := fmt.Sscanf(string(out), "maxrss=%d exit=%d", &rss, &code); err != nil {
		return 0, 0, fmt.Errorf("launcher for %s said %q: %w", c, out, err)
	}
	return rss, code, nil
}

// median of durations (the slice is sorted in place).
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
