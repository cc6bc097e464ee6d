package proccpu

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func seed(f *testing.F, glob string) {
	paths, _ := filepath.Glob(glob)
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// FuzzParseStat: any bytes give a non-negative time or ErrFormat, never a
// panic.
func FuzzParseStat(f *testing.F) {
	seed(f, "testdata/stat-*.txt")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseStat(b)
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error not ErrFormat: %v", err)
		}
		if d < 0 {
			t.Fatalf("negative cpu time %s", d)
		}
	})
}

// FuzzParsePSCPUTime: the same for ps output.
func FuzzParsePSCPUTime(f *testing.F) {
	seed(f, "testdata/ps/*.txt")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParsePSCPUTime(b)
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error not ErrFormat: %v", err)
		}
		if d < 0 {
			t.Fatalf("negative cpu time %s", d)
		}
	})
}

// FuzzParsePSTable: any bytes give a table of non-negative times and
// positive pids, or ErrFormat; Tree over it never panics or loops.
func FuzzParsePSTable(f *testing.F) {
	seed(f, "testdata/pstable/*.txt")
	f.Fuzz(func(t *testing.T, b []byte) {
		procs, err := ParsePSTable(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		for _, p := range procs {
			if p.PID <= 0 || p.PPID < 0 || p.CPU < 0 || p.Age < 0 {
				t.Fatalf("bad process %+v", p)
			}
			if tree, ok := Tree(procs, p.PID); !ok || len(tree) > len(procs) {
				t.Fatalf("tree of %d: %d of %d processes, %v", p.PID, len(tree), len(procs), ok)
			}
		}
	})
}

// FuzzParseStatProc: the same for a whole /proc/<pid>/stat line; an age
// is never negative except -1, "unknown" (a start time out of range).
func FuzzParseStatProc(f *testing.F) {
	seed(f, "testdata/stat-*.txt")
	seed(f, "testdata/proc/*/stat")
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseStatProc(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		if p.PID <= 0 || p.PPID < 0 || p.CPU < 0 {
			t.Fatalf("bad process %+v", p)
		}
		if q := p.withAge(time.Hour); q.Age < 0 && q.Age != -1 {
			t.Fatalf("negative age %+v", q)
		}
	})
}

// FuzzParseUptime: any bytes give a non-negative uptime or ErrFormat.
func FuzzParseUptime(f *testing.F) {
	seed(f, "testdata/proc/uptime")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseUptime(b)
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error not ErrFormat: %v", err)
		}
		if d < 0 {
			t.Fatalf("negative uptime %s", d)
		}
	})
}
