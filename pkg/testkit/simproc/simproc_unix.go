//go:build unix

// Package simproc is how the simulated service managers (launchdsim,
// systemdsim) watch and stop the processes they started: neither is their
// parent, as launchd and systemd are, so they ask the kernel.
package simproc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"
)

// SignalGroup sends sig to the process group pid leads (each started
// program leads its own), or to pid alone when there is no such group.
func SignalGroup(pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil {
		syscall.Kill(pid, sig)
	}
}

// WaitDead waits up to d for pid to be gone and reports whether it is.
func WaitDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !Alive(pid) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return !Alive(pid)
}

// Alive reports whether pid runs. A zombie counts as dead: the simulator
// is not its parent, so on a system whose init does not reap promptly a
// dead program can linger as one.
func Alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, rerr := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if rerr != nil {
		return true // no procfs (macOS): trust kill(0)
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
