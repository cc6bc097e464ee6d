//go:build !linux

package systemdsim

import "time"

// monotonicMicros: systemd is Linux's; elsewhere the simulation stamps
// starts with wall-clock µs, which pkg/host/systemctl cannot turn into a
// start time (it reads CLOCK_MONOTONIC only on Linux).
func monotonicMicros() uint64 { return uint64(time.Now().UnixMicro()) }
