//go:build !linux

package systemctl

import (
	"fmt"
	"runtime"
	"time"
)

// monotonicNow: systemd runs on Linux only; elsewhere its monotonic
// timestamps cannot be turned into times.
func monotonicNow() (time.Duration, error) {
	return 0, fmt.Errorf("CLOCK_MONOTONIC of systemd: not on %s", runtime.GOOS)
}
