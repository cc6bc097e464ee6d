//go:build !unix

package main

import (
	"os"
	"time"
)

// cpuAndRSS has no peak RSS on this system: only CPU time is reported.
func cpuAndRSS(ps *os.ProcessState) (time.Duration, int64) {
	return ps.UserTime() + ps.SystemTime(), 0
}
