//go:build !linux && !darwin

package service

import (
	"fmt"
	"runtime"
	"time"
)

// ProcessStart is not implemented on this system: no start-up grace, and
// every tick asks the manager.
func ProcessStart(pid int) (time.Time, error) {
	return time.Time{}, fmt.Errorf("%w on %s", ErrNoStartTime, runtime.GOOS)
}
