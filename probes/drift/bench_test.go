package drift

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/hashcache"
)

// BenchmarkCheckFiles measures the file checks of one tick over 200
// deployed files of 64 KiB against a real repository: one git rev-parse,
// one git cat-file --batch streaming every committed blob through SHA-256,
// and the deployed files from a warm hash cache (cached) or read again
// (cold).
func BenchmarkCheckFiles(b *testing.B) {
	const n, size = 200, 64 << 10
	r := newTestRepo(b, "")
	deployDir := b.TempDir()
	content := make([]byte, size)
	var entries []entry
	for i := range n {
		for j := range content {
			content[j] = byte(i + j)
		}
		rel := fmt.Sprintf("files/f%03d.bin", i)
		r.write(rel, content)
		d := filepath.Join(deployDir, fmt.Sprintf("f%03d.bin", i))
		if err := os.WriteFile(d, content, 0o644); err != nil {
			b.Fatal(err)
		}
		entries = append(entries, entry{Deployed: d, Canonical: rel})
	}
	r.commitAll("bench")
	repo := &repo{Dir: r.Dir}
	// A clock ahead of the files' ctime, so the cache trusts them.
	ahead := func() time.Time { return time.Now().Add(time.Minute) }

	for _, bc := range []struct {
		name string
		opts hashcache.Options
	}{
		{"cached", hashcache.Options{Now: ahead}},
		{"cold", hashcache.Options{Now: ahead, FullEvery: time.Nanosecond}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cachePath := filepath.Join(b.TempDir(), "cache.json")
			warm, _ := hashcache.Open(cachePath, bc.opts)
			if _, err := checkFiles(b.Context(), entries, "", repo, warm); err != nil {
				b.Fatal(err)
			}
			warm.Save()
			b.SetBytes(2 * n * size) // committed blobs + deployed files
			b.ResetTimer()
			for b.Loop() {
				cache, _ := hashcache.Open(cachePath, bc.opts)
				rep, err := checkFiles(b.Context(), entries, "", repo, cache)
				if err != nil || rep.Matching != n {
					b.Fatalf("%v %+v", err, rep)
				}
			}
		})
	}
}
