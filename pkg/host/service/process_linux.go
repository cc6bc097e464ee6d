package service

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat's start time. Linux fixes
// USER_HZ at 100 on every architecture it exports it for.
const userHZ = 100

// ProcessStart reads when pid started: its start time in clock ticks after
// boot (/proc/<pid>/stat field 22) plus the boot time (/proc/stat btime).
// A zombie has ended: no start time.
func ProcessStart(pid int) (time.Time, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrNoStartTime, err)
	}
	ticks, state, err := ParseStatStart(stat)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: /proc/%d/stat: %w", ErrNoStartTime, pid, err)
	}
	if state == 'Z' || state == 'X' {
		return time.Time{}, fmt.Errorf("%w: pid %d has exited (state %c)", ErrNoStartTime, pid, state)
	}
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(time.Duration(ticks) * (time.Second / userHZ)), nil
}

func bootTime() (time.Time, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrNoStartTime, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("%w: /proc/stat btime: %w", ErrNoStartTime, err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: no btime in /proc/stat", ErrNoStartTime)
}
