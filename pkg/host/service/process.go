package service

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoStartTime means a process's start time cannot be read here (it is
// gone, or this system does not say).
var ErrNoStartTime = errors.New("process start time unavailable")

// Process is a running process as the probes remember it between ticks: a
// pid alone can be reused; a pid and its start time name one process.
type Process struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// Identify reads pid's start time: the Process to remember.
func Identify(pid int) (Process, error) {
	started, err := ProcessStart(pid)
	if err != nil {
		return Process{}, err
	}
	return Process{PID: pid, Started: started}, nil
}

// StillRunning reports whether p is still the process it was when it was
// identified: its pid answers kill(pid, 0) (EPERM counts: it exists) and
// has the same start time. It runs no command: /proc on Linux, sysctl
// kern.proc.pid on macOS.
func (p Process) StillRunning() bool {
	if p.PID <= 0 || p.Started.IsZero() {
		return false
	}
	if err := syscall.Kill(p.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	started, err := ProcessStart(p.PID)
	return err == nil && started.Equal(p.Started)
}

// ParseStatStart returns the start time in clock ticks after boot (field
// 22) and the state (field 3) of a /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses; the fields after its last ')'
// are fixed.
func ParseStatStart(stat []byte) (ticks uint64, state byte, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("%d fields after the command name", len(fields))
	}
	// The kernel's states are single letters (R, S, D, Z, T, t, X, I, …).
	if st := fields[0]; len(st) != 1 || !('A' <= st[0] && st[0] <= 'Z' || 'a' <= st[0] && st[0] <= 'z') {
		return 0, 0, fmt.Errorf("state %q", st)
	}
	const maxTicks = uint64(1<<63-1) / uint64(time.Second/100) // USER_HZ
	ticks, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil || ticks > maxTicks {
		return 0, 0, fmt.Errorf("starttime %q", fields[19])
	}
	return ticks, fields[0][0], nil
}
