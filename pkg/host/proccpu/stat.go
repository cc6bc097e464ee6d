package proccpu

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat's times. Linux fixes USER_HZ at
// 100 on every architecture that exports it.
const userHZ = 100

// maxStat bounds a /proc/<pid>/stat read; the real file is a few hundred
// bytes.
const maxStat = 4096

// ParseStat returns utime + stime from the content of /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so the
// fields are counted after its last ')'.
func ParseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no command name: %w", ErrFormat)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command name: %w", len(fields), ErrFormat)
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 63)
		if err != nil || f[0] == '+' {
			return 0, fmt.Errorf("parse /proc stat: cpu ticks %q: %w", f, ErrFormat)
		}
		ticks += n
	}
	const maxTicks = uint64(1<<63-1) / uint64(time.Second/userHZ)
	if ticks > maxTicks {
		return 0, fmt.Errorf("parse /proc stat: cpu ticks %d out of range: %w", ticks, ErrFormat)
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// ReadStat reads pid's CPU time from <procRoot>/<pid>/stat.
func ReadStat(procRoot string, pid int) (time.Duration, error) {
	path := filepath.Join(procRoot, strconv.Itoa(pid), "stat")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("read %s: %w", path, ErrNoProcess)
	}
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	defer f.Close()
	buf := make([]byte, maxStat)
	n, err := f.Read(buf)
	if err != nil {
		// A process that exits between open and read reads as ESRCH.
		return 0, fmt.Errorf("read %s: %w: %w", path, ErrNoProcess, err)
	}
	if bytes.Contains(buf[:n], []byte(") Z ")) || bytes.Contains(buf[:n], []byte(") X ")) {
		// A zombie has stopped running; its pid is not a server.
		return 0, fmt.Errorf("read %s: zombie: %w", path, ErrNoProcess)
	}
	d, err := ParseStat(buf[:n])
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}
