package proccpu

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
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
