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

	"github.com/sanctum/council-probes/pkg/core/text"
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

// ParseStatProc reads a whole /proc/<pid>/stat line into a Proc: pid
// (field 1), state (3), ppid (4), utime + stime (14, 15) and starttime
// (22, in clock ticks after boot). Age is left unknown (-1): it needs the
// system's uptime (ParseUptime), which Age sets.
func ParseStatProc(b []byte) (Proc, error) {
	cpu, err := ParseStat(b)
	if err != nil {
		return Proc{}, err
	}
	open := bytes.IndexByte(b, '(')
	i := bytes.LastIndexByte(b, ')')
	if open <= 0 {
		return Proc{}, fmt.Errorf("parse /proc stat: no pid before the command name: %w", ErrFormat)
	}
	pidField := strings.TrimSpace(string(b[:open]))
	pid, err := strconv.Atoi(pidField)
	if err != nil || pid <= 0 || !digits(pidField) {
		return Proc{}, fmt.Errorf("parse /proc stat: pid %q: %w", text.Cut(pidField, 20), ErrFormat)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return Proc{}, fmt.Errorf("parse /proc stat: %d fields after the command name, want the start time (field 22): %w", len(fields), ErrFormat)
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil || ppid < 0 || !digits(fields[1]) {
		return Proc{}, fmt.Errorf("parse /proc stat: ppid %q: %w", text.Cut(fields[1], 20), ErrFormat)
	}
	start, err := strconv.ParseUint(fields[19], 10, 63)
	if err != nil || !digits(fields[19]) {
		return Proc{}, fmt.Errorf("parse /proc stat: start time %q: %w", text.Cut(fields[19], 20), ErrFormat)
	}
	p := Proc{PID: pid, PPID: ppid, CPU: cpu, Age: -1, Zombie: fields[0] == "Z" || fields[0] == "X"}
	p.startTicks = start
	return p, nil
}

// ParseUptime reads /proc/uptime's first field: seconds since boot.
func ParseUptime(b []byte) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("parse /proc/uptime: empty: %w", ErrFormat)
	}
	whole, frac, _ := strings.Cut(f[0], ".")
	// Nine digits of seconds is 31 years up; ten could wrap a
	// time.Duration (292 years) negative.
	if !digits(whole) || len(whole) > 9 || (frac != "" && (!digits(frac) || len(frac) > 9)) {
		return 0, fmt.Errorf("parse /proc/uptime %q: %w", text.Cut(f[0], 30), ErrFormat)
	}
	s, _ := strconv.ParseInt(whole, 10, 64)
	d := time.Duration(s) * time.Second
	if frac != "" {
		n, _ := strconv.ParseInt(frac, 10, 64)
		for range 9 - len(frac) {
			n *= 10
		}
		d += time.Duration(n)
	}
	return d, nil
}

// withAge sets p's age from the system's uptime: uptime minus its start.
func (p Proc) withAge(uptime time.Duration) Proc {
	const maxTicks = uint64(1<<63-1) / uint64(time.Second/userHZ)
	if p.startTicks > maxTicks {
		return p
	}
	p.Age = max(uptime-time.Duration(p.startTicks)*(time.Second/userHZ), 0)
	return p
}

// maxProcEntries bounds the /proc scan.
const maxProcEntries = 1 << 16

// ReadProcTable reads every process's stat under procRoot, with ages from
// <procRoot>/uptime. A process that ends during the scan is left out; a
// stat in a shape we do not know is an error.
func ReadProcTable(procRoot string) ([]Proc, error) {
	up, err := readSmall(filepath.Join(procRoot, "uptime"))
	if err != nil {
		return nil, fmt.Errorf("read process table: %w", err)
	}
	uptime, err := ParseUptime(up)
	if err != nil {
		return nil, err
	}
	dir, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("read process table: %w", err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(maxProcEntries)
	if err != nil && len(names) == 0 {
		return nil, fmt.Errorf("read process table %s: %w", procRoot, err)
	}
	procs := make([]Proc, 0, len(names))
	for _, name := range names {
		if !digits(name) {
			continue
		}
		b, err := readSmall(filepath.Join(procRoot, name, "stat"))
		if err != nil {
			continue // ended between the listing and the read
		}
		p, err := ParseStatProc(b)
		if err != nil {
			return nil, fmt.Errorf("%s/%s/stat: %w", procRoot, name, err)
		}
		procs = append(procs, p.withAge(uptime))
	}
	return procs, nil
}

// readSmall reads at most maxStat bytes of a /proc file.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, maxStat)
	n, err := f.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf[:n], nil
}
