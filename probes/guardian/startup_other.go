//go:build !linux && !darwin

package guardian

import (
	"fmt"
	"runtime"
	"time"
)

// processStart is not implemented on this system: no start-up grace.
func processStart(pid int) (time.Time, error) {
	return time.Time{}, fmt.Errorf("%w on %s", errNoStartTime, runtime.GOOS)
}
