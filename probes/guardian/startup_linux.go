package guardian

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat's start time. Linux fixes
// USER_HZ at 100 on every architecture it exports it for.
const userHZ = 100

// processStart reads when pid started: its start time in clock ticks after
// boot (/proc/<pid>/stat field 22) plus the boot time (/proc/stat btime).
func processStart(pid int) (time.Time, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", errNoStartTime, err)
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after the last ')' are fixed.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return time.Time{}, fmt.Errorf("%w: malformed /proc/%d/stat", errNoStartTime, pid)
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 {
		return time.Time{}, fmt.Errorf("%w: short /proc/%d/stat", errNoStartTime, pid)
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: /proc/%d/stat starttime: %w", errNoStartTime, pid, err)
	}
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(time.Duration(ticks) * time.Second / userHZ), nil
}

func bootTime() (time.Time, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", errNoStartTime, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("%w: /proc/stat btime: %w", errNoStartTime, err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: no btime in /proc/stat", errNoStartTime)
}
