package hashcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeClock starts at the real time, a minute ahead, so files written by the
// test are already outside the racy window, and moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().Add(time.Minute)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pattern returns n bytes that differ from file to file and position to
// position, so a hash of the wrong bytes cannot pass by accident.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed ^ byte(i>>11)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func stat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// rewriteRestoringMtime rewrites path in place with data (same inode) and
// sets its mtime back, repeating until the ctime has visibly moved: the
// kernel's timestamp clock is coarse, and the point of the test is a
// change that only the ctime reveals.
func rewriteRestoringMtime(t *testing.T, path string, data []byte) {
	t.Helper()
	before := stat(t, path)
	mtime := time.Unix(before.Mtim.Unix())
	for range 200 {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if stat(t, path).Ctim != before.Ctim {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("ctime never moved")
}

func open(t *testing.T, path string, clock *fakeClock, opts Options) *Cache {
	t.Helper()
	opts.Now = clock.Now
	c, warn := Open(path, opts)
	if warn != nil {
		t.Fatalf("Open warning: %v", warn)
	}
	return c
}

func mustSum(t *testing.T, c *Cache, path string) Result {
	t.Helper()
	r, err := c.Sum(context.Background(), path)
	if err != nil {
		t.Fatalf("Sum(%s): %v", path, err)
	}
	return r
}

func TestSumMatchesSHA256(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4095, 4096, 4097, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 17} {
		for _, buf := range []int{4096, 0} {
			t.Run(fmt.Sprintf("size=%d/buf=%d", size, buf), func(t *testing.T) {
				data := pattern(size, byte(size))
				p := filepath.Join(dir, fmt.Sprintf("f%d", size))
				writeFile(t, p, data)
				c := open(t, "", newClock(), Options{BufferSize: buf})
				r := mustSum(t, c, p)
				if r.SHA256 != sha(data) {
					t.Errorf("SHA256 = %s, want %s", r.SHA256, sha(data))
				}
				if r.Size != int64(size) || r.FromCache {
					t.Errorf("Size = %d FromCache = %v, want %d false", r.Size, r.FromCache, size)
				}
				if got := c.Stats().BytesHashed; got != int64(size) {
					t.Errorf("BytesHashed = %d, want %d", got, size)
				}
			})
		}
	}
}

func TestUnchangedFileIsACacheHitAcrossSessions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "weights.bin")
	data := pattern(100_000, 1)
	writeFile(t, p, data)
	cachePath := filepath.Join(dir, "state", "cache.json")
	clock := newClock()

	c := open(t, cachePath, clock, Options{})
	if r := mustSum(t, c, p); r.FromCache {
		t.Fatal("first Sum came from an empty cache")
	}
	if r := mustSum(t, c, p); !r.FromCache || r.SHA256 != sha(data) {
		t.Fatalf("second Sum = %+v, want a hit with the right digest", r)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode = %v, want 0600", fi.Mode().Perm())
	}

	clock.Advance(time.Hour)
	c = open(t, cachePath, clock, Options{})
	r := mustSum(t, c, p)
	if !r.FromCache || r.SHA256 != sha(data) || r.Size != int64(len(data)) {
		t.Fatalf("Sum after reopen = %+v, want a hit", r)
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 0 || s.BytesHashed != 0 || s.FullPass {
		t.Fatalf("Stats = %+v, want exactly one hit and nothing read", s)
	}
}

func TestRacyEntryIsNotTrusted(t *testing.T) {
	// A file hashed right after it was written could be rewritten within
	// the same timestamp tick; its digest must not be reused.
	p := filepath.Join(t.TempDir(), "fresh")
	writeFile(t, p, []byte("just written"))
	clock := &fakeClock{t: time.Now()}
	c := open(t, "", clock, Options{})
	mustSum(t, c, p)
	if r := mustSum(t, c, p); r.FromCache {
		t.Fatal("digest of a file changed within the racy window was reused")
	}
	clock.Advance(time.Minute)
	mustSum(t, c, p) // hashed again, now outside the window
	if r := mustSum(t, c, p); !r.FromCache {
		t.Fatal("settled file was not cached")
	}
}

func TestChangesAreCaught(t *testing.T) {
	tests := []struct {
		name      string
		change    func(t *testing.T, path string, data []byte) []byte
		sameInode bool
		sameMtime bool
	}{
		{
			name: "same size in place, mtime restored (ctime reveals it)",
			change: func(t *testing.T, path string, data []byte) []byte {
				rewriteRestoringMtime(t, path, data)
				return data
			},
			sameInode: true,
			sameMtime: true,
		},
		{
			name: "replaced by rename, same size and mtime (inode reveals it)",
			change: func(t *testing.T, path string, data []byte) []byte {
				old := stat(t, path)
				tmp := path + ".new"
				writeFile(t, tmp, data)
				mtime := time.Unix(old.Mtim.Unix())
				if err := os.Chtimes(tmp, mtime, mtime); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
				return data
			},
			sameMtime: true,
		},
		{
			name: "different size",
			change: func(t *testing.T, path string, data []byte) []byte {
				data = append(data, 'x')
				writeFile(t, path, data)
				return data
			},
			sameInode: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "model.safetensors")
			orig := pattern(64<<10, 7)
			writeFile(t, p, orig)
			clock := newClock()
			c := open(t, "", clock, Options{})
			mustSum(t, c, p)
			if r := mustSum(t, c, p); !r.FromCache {
				t.Fatal("setup: no cache hit on the unchanged file")
			}
			before := stat(t, p)

			changed := tt.change(t, p, pattern(64<<10, 8))
			after := stat(t, p)
			if (after.Ino == before.Ino) != tt.sameInode || (after.Mtim == before.Mtim) != tt.sameMtime {
				t.Fatalf("setup: inode %d->%d mtime %v->%v", before.Ino, after.Ino, before.Mtim, after.Mtim)
			}
			clock.Advance(time.Minute)

			want := sha(changed)
			r := mustSum(t, c, p)
			if r.FromCache || r.SHA256 != want {
				t.Fatalf("after change Sum = %+v, want a fresh digest %s", r, want)
			}
		})
	}
}

func TestFullPassAfterFullEvery(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w.bin")
	data := pattern(10_000, 3)
	writeFile(t, p, data)
	cachePath := filepath.Join(dir, "cache.json")
	clock := newClock()
	opts := Options{FullEvery: 24 * time.Hour}

	c := open(t, cachePath, clock, opts)
	if !c.Stats().FullPass {
		t.Error("first session (no record of a full pass) is not a full pass")
	}
	mustSum(t, c, p)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	// Simulate a change the stat cannot see (a raw write, bit rot): the
	// cached digest no longer matches the content but the key does.
	raw, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	var f cacheFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	stale := sha([]byte("what the file used to hold"))
	for k, e := range f.Entries {
		e.SHA256 = stale
		f.Entries[k] = e
	}
	raw, _ = json.Marshal(f)
	writeFile(t, cachePath, raw)

	clock.Advance(23 * time.Hour)
	c = open(t, cachePath, clock, opts)
	if r := mustSum(t, c, p); c.Stats().FullPass || !r.FromCache || r.SHA256 != stale {
		t.Fatalf("before FullEvery: FullPass=%v Sum=%+v, want the cached digest", c.Stats().FullPass, r)
	}

	clock.Advance(2 * time.Hour)
	c = open(t, cachePath, clock, opts)
	r := mustSum(t, c, p)
	s := c.Stats()
	if !s.FullPass || r.FromCache || r.SHA256 != sha(data) {
		t.Fatalf("after FullEvery: FullPass=%v Sum=%+v, want a re-read", s.FullPass, r)
	}
	if s.SilentChanges != 1 {
		t.Errorf("SilentChanges = %d, want 1", s.SilentChanges)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Hour)
	c = open(t, cachePath, clock, opts)
	if r := mustSum(t, c, p); c.Stats().FullPass || !r.FromCache || r.SHA256 != sha(data) {
		t.Fatalf("after the full pass was saved: FullPass=%v Sum=%+v", c.Stats().FullPass, r)
	}
}

func TestFullPassDisabled(t *testing.T) {
	c := open(t, "", newClock(), Options{FullEvery: -1})
	if c.Stats().FullPass {
		t.Fatal("negative FullEvery still gave a full pass")
	}
}

func TestCorruptCacheIsDiscardedWithAWarning(t *testing.T) {
	tests := map[string]string{
		"garbage":     "\x00\x01not json",
		"truncated":   `{"version":1,"last_full_pass":"2026-01-01T00:00:00Z","entries":{"/a":{"dev":1,`,
		"wrong type":  `{"version":"one"}`,
		"old version": `{"version":99,"entries":{}}`,
		"bad digest":  `{"version":1,"entries":{"/a":{"sha256":"zz"}}}`,
		"unknown key": `{"version":1,"entries":{},"surprise":true}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cachePath := filepath.Join(dir, "cache.json")
			writeFile(t, cachePath, []byte(content))
			p := filepath.Join(dir, "f")
			writeFile(t, p, []byte("content"))

			c, warn := Open(cachePath, Options{Now: newClock().Now})
			if !errors.Is(warn, ErrCorrupt) {
				t.Fatalf("warning = %v, want one wrapping ErrCorrupt", warn)
			}
			if r := mustSum(t, c, p); r.SHA256 != sha([]byte("content")) {
				t.Fatalf("Sum after discarding = %+v", r)
			}
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			if _, warn := Open(cachePath, Options{}); warn != nil {
				t.Fatalf("cache still bad after Save: %v", warn)
			}
		})
	}
}

func TestHashFilesPerFileErrors(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, pattern(3<<20, 1))
	writeFile(t, b, []byte("bee"))
	missing := filepath.Join(dir, "missing")
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}

	c := open(t, "", newClock(), Options{Workers: 3})
	paths := []string{missing, a, sub, b, fifo}
	res, err := c.HashFiles(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(paths) {
		t.Fatalf("%d results for %d paths", len(res), len(paths))
	}
	for i, r := range res {
		if r.Path != paths[i] {
			t.Errorf("result %d is for %s, want %s (input order)", i, r.Path, paths[i])
		}
	}
	if !errors.Is(res[0].Err, fs.ErrNotExist) {
		t.Errorf("missing file: Err = %v, want ErrNotExist", res[0].Err)
	}
	if !errors.Is(res[2].Err, ErrNotRegular) || !errors.Is(res[4].Err, ErrNotRegular) {
		t.Errorf("directory / FIFO: Err = %v / %v, want ErrNotRegular", res[2].Err, res[4].Err)
	}
	if res[1].Err != nil || res[1].SHA256 != sha(pattern(3<<20, 1)) {
		t.Errorf("a: %+v", res[1])
	}
	if res[3].Err != nil || res[3].SHA256 != sha([]byte("bee")) {
		t.Errorf("b: %+v", res[3])
	}
}

func TestHashFilesManyWorkersInputOrder(t *testing.T) {
	dir := t.TempDir()
	var paths, want []string
	for i := range 40 {
		data := pattern(1+i*5000, byte(i))
		p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
		writeFile(t, p, data)
		paths = append(paths, p)
		want = append(want, sha(data))
	}
	c := open(t, "", newClock(), Options{Workers: 4, BufferSize: 8192})
	for pass, wantCached := range []bool{false, true} {
		res, err := c.HashFiles(context.Background(), paths)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil || r.SHA256 != want[i] || r.FromCache != wantCached {
				t.Errorf("pass %d file %d: %+v, want %s cached=%v", pass, i, r, want[i], wantCached)
			}
		}
	}
	if s := c.Stats(); s.Hits != 40 || s.Misses != 40 {
		t.Errorf("Stats = %+v, want 40 hits and 40 misses", s)
	}
}

func TestHashFilesStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("f%d", i))
		writeFile(t, p, pattern(1<<20, byte(i)))
		paths = append(paths, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The clock is read once by Open and then once as each file's hash
	// starts: cancelling there shows the read loop itself gives up, with
	// no timing involved.
	real := newClock()
	calls := 0
	c, warn := Open("", Options{Workers: 1, Now: func() time.Time {
		calls++
		if calls == 2 {
			cancel()
		}
		return real.Now()
	}})
	if warn != nil {
		t.Fatal(warn)
	}
	res, err := c.HashFiles(ctx, paths)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("HashFiles error = %v, want context.Canceled", err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, context.Canceled) || r.Path != paths[i] {
			t.Errorf("result %d = %+v, want cancelled", i, r)
		}
	}
	if s := c.Stats(); s.BytesHashed != 0 || s.Misses != 0 {
		t.Errorf("Stats = %+v, want nothing read after the cancel", s)
	}
}

func TestSavePrunesFilesNoLongerAskedAbout(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, []byte("a"))
	writeFile(t, b, []byte("b"))
	cachePath := filepath.Join(dir, "cache.json")
	clock := newClock()

	c := open(t, cachePath, clock, Options{})
	if _, err := c.HashFiles(context.Background(), []string{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c = open(t, cachePath, clock, Options{})
	mustSum(t, c, a)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	var f cacheFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Entries[a]; !ok || len(f.Entries) != 1 {
		t.Fatalf("entries after pruning = %v, want only %s", f.Entries, a)
	}
}

func TestMissingFileIsDroppedFromCache(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gone")
	writeFile(t, p, []byte("here"))
	c := open(t, "", newClock(), Options{})
	mustSum(t, c, p)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sum(context.Background(), p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Sum of a deleted file = %v, want ErrNotExist (not the cached digest)", err)
	}
}

func TestMemoryOnlyCacheSavesNothing(t *testing.T) {
	dir := t.TempDir()
	c := open(t, "", newClock(), Options{})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("memory-only cache wrote %v", entries)
	}
}

// TestFullPassWhenTheLastIsInTheFuture: a last full pass recorded after now
// (a clock stepped back) does not postpone the next one until then: the
// session is a full pass.
func TestFullPassWhenTheLastIsInTheFuture(t *testing.T) {
	dir := t.TempDir()
	cachePath := filepath.Join(dir, "cache.json")
	raw, _ := json.Marshal(cacheFile{Version: fileFormatVersion, LastFullPass: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), Entries: map[string]entry{}})
	writeFile(t, cachePath, raw)
	if c := open(t, cachePath, newClock(), Options{FullEvery: 24 * time.Hour}); !c.Stats().FullPass {
		t.Error("a last full pass in 2031 postponed the next one")
	}
}
