package systemdsim

import "golang.org/x/sys/unix"

// monotonicMicros is CLOCK_MONOTONIC in µs, the clock of systemd's
// ExecMainStartTimestampMonotonic.
func monotonicMicros() uint64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return uint64(ts.Nano() / 1000)
}
