//go:build unix

package main

import (
	"os"
	"runtime"
	"syscall"
	"time"
)

// cpuAndRSS reads user+sys time and peak RSS (bytes) from a reaped child's
// rusage. ru_maxrss is in KiB on Linux and the BSDs, in bytes on macOS.
func cpuAndRSS(ps *os.ProcessState) (time.Duration, int64) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return ps.UserTime() + ps.SystemTime(), 0
	}
	rss := int64(ru.Maxrss)
	if runtime.GOOS != "darwin" {
		rss *= 1024
	}
	return ps.UserTime() + ps.SystemTime(), rss
}
