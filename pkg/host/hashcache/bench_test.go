package hashcache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func benchFiles(b *testing.B, n, size int) []string {
	b.Helper()
	dir := b.TempDir()
	data := pattern(size, 9)
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("f%04d", i))
		data[0] = byte(i)
		if err := os.WriteFile(paths[i], data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return paths
}

// ahead keeps freshly written benchmark files outside the racy window.
func ahead() time.Time { return time.Now().Add(time.Minute) }

// BenchmarkHashLargeFile is the single-core rate: one worker, one file,
// nothing cached.
func BenchmarkHashLargeFile(b *testing.B) {
	const size = 64 << 20
	p := benchFiles(b, 1, size)[0]
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		c, _ := Open("", Options{Workers: 1, Now: ahead})
		if _, err := c.Sum(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashManyFiles is the parallel rate over many files with one
// worker per CPU.
func BenchmarkHashManyFiles(b *testing.B) {
	const n, size = 64, 1 << 20
	paths := benchFiles(b, n, size)
	b.SetBytes(n * size)
	for b.Loop() {
		c, _ := Open("", Options{Workers: runtime.NumCPU(), Now: ahead})
		if _, err := c.HashFiles(context.Background(), paths); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCachedRecheck is a whole tick over unchanged files: load the
// cache file, stat every file, save. MB/s here is the apparent rate.
func BenchmarkCachedRecheck(b *testing.B) {
	const n, size = 1000, 64 << 10
	paths := benchFiles(b, n, size)
	cachePath := filepath.Join(b.TempDir(), "cache.json")
	opts := Options{FullEvery: -1, Now: ahead}
	c, _ := Open(cachePath, opts)
	if _, err := c.HashFiles(context.Background(), paths); err != nil {
		b.Fatal(err)
	}
	if err := c.Save(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * size)
	for b.Loop() {
		c, warn := Open(cachePath, opts)
		if warn != nil {
			b.Fatal(warn)
		}
		if _, err := c.HashFiles(context.Background(), paths); err != nil {
			b.Fatal(err)
		}
		if s := c.Stats(); s.Hits != n {
			b.Fatalf("Stats = %+v, want %d hits", s, n)
		}
		if err := c.Save(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "µs/file")
}
