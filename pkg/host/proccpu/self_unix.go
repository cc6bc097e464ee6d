//go:build unix

package proccpu

import (
	"time"

	"golang.org/x/sys/unix"
)

// Self returns the CPU time (user + system) this process has used so far,
// start-up included, from getrusage(RUSAGE_SELF). ok is false when the
// system cannot say.
func Self() (cpu time.Duration, ok bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
