package main

import (
	"errors"
	"os/exec"
	"syscall"
)

// selfPeakRSS is this process's peak resident set in MiB (macOS reports
// ru_maxrss in bytes).
func selfPeakRSS() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return float64(ru.Maxrss) / (1 << 20), nil
}

// pipedPeakRSS is not measured on macOS: there is no /proc to read a live
// child's high-water mark from.
func pipedPeakRSS(*exec.Cmd, string) (float64, error) {
	return 0, errors.ErrUnsupported
}
