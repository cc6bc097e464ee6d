// Package hashcache computes SHA-256 digests of files for the drift and
// integrity probes and remembers them between ticks, so that a file that has
// not changed is not read again.
//
// Hashing streams each file through a fixed-size buffer (one per worker), so
// memory stays flat whatever the file size, and crypto/sha256 uses the CPU's
// SHA extensions where it has them. HashFiles spreads files over workers and
// returns results in input order.
//
// A cached digest is reused only when the file's (device, inode, size, mtime,
// ctime) are all unchanged. Any write moves the ctime, which nothing short of
// changing the system clock can set back, so a same-size rewrite with a
// restored mtime is still caught; a replaced file has a new inode. Two cases
// the key cannot see are handled separately:
//
//   - Racy entries: timestamps have a granularity (a few milliseconds from
//     the kernel's coarse clock, a second on HFS+), so a file rewritten in
//     the same tick it was hashed in keeps an identical stat. A digest taken
//     within two seconds of the file's ctime is therefore not trusted, and
//     the file is hashed again next time (as git does for its index).
//   - Changes that bypass the timestamps (a restored clock, a raw disk
//     write, bit rot): once the last full pass is older than FullEvery, the
//     whole session ignores the cache and re-hashes every file.
//
// The cache is one JSON file, written atomically by Save. Save keeps only
// the files asked about in this session, so a cache belongs to one caller
// (one file per probe, e.g. drift-hashcache.json and
// integrity-hashcache.json in the state dir): two callers hashing different
// sets would prune each other. A Cache is meant to live for one probe tick.
package hashcache

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

const (
	// DefaultFullEvery is how often a full pass re-hashes every file
	// regardless of the cache.
	DefaultFullEvery = 24 * time.Hour
	// DefaultBufferSize is the read buffer per worker. 1 MiB keeps the
	// syscall count low without costing memory that matters.
	DefaultBufferSize = 1 << 20

	// racyWindow covers timestamp granularity (coarse kernel clock, 1 s on
	// HFS+, 2 s on FAT): a file whose ctime is this close to the moment it
	// was hashed could be rewritten without its stat changing.
	racyWindow = 2 * time.Second

	fileFormatVersion = 1

	// maxCacheFile bounds the read of the cache file: an entry is about
	// 300 bytes, so this holds some 200,000 files. A larger file is
	// discarded unread, as a corrupt one is.
	maxCacheFile = 64 << 20
)

// ErrCorrupt is wrapped by the warning Open returns when the cache file
// cannot be parsed; the cache then starts empty.
var ErrCorrupt = errors.New("corrupt hash cache")

// ErrChangedWhileHashing is returned when a file's stat differs before and
// after it was read: the digest would describe no version of the file.
var ErrChangedWhileHashing = errors.New("file changed while it was being hashed")

// Options configure a Cache. The zero value gives the defaults.
type Options struct {
	// Workers is how many files HashFiles hashes at once. Default
	// runtime.NumCPU().
	Workers int
	// FullEvery is the longest time between two full passes. Default
	// DefaultFullEvery; negative disables full passes.
	FullEvery time.Duration
	// BufferSize is the read buffer per worker. Default DefaultBufferSize.
	BufferSize int
	// Now is the clock. It must be comparable to file timestamps (it is
	// used to spot racy entries), so a test's fake clock should start at
	// the real time and move forward. Default time.Now.
	Now func() time.Time
}

// Result is the outcome for one file.
type Result struct {
	// Path is the path as the caller gave it.
	Path string
	// SHA256 is the lowercase hex digest; empty when Err is set.
	SHA256 string
	// Size is the file's size in bytes.
	Size int64
	// FromCache is true when the digest came from the cache, not a read.
	FromCache bool
	// Err is the per-file error in HashFiles results (missing file, not a
	// regular file, permission, cancelled); Sum returns it separately.
	Err error
}

// Stats count what a Cache has done since Open.
type Stats struct {
	Hits        int
	Misses      int
	BytesHashed int64
	// SilentChanges counts files whose stat matched the cache but whose
	// content did not: only a full pass can find these, and each one means
	// the file changed without its timestamps moving (tampering or disk
	// corruption).
	SilentChanges int
	// FullPass is true when this session ignores the cache.
	FullPass bool
}

type entry struct {
	fileKey
	SHA256 string `json:"sha256"`
}

// cacheFile is the on-disk format.
type cacheFile struct {
	Version      int              `json:"version"`
	LastFullPass time.Time        `json:"last_full_pass"`
	Entries      map[string]entry `json:"entries"`
}

// Cache hashes files and remembers their digests. It is safe for concurrent
// use.
type Cache struct {
	path      string
	workers   int
	fullEvery time.Duration
	now       func() time.Time
	bufs      sync.Pool

	mu       sync.Mutex
	old      map[string]entry // as loaded by Open
	seen     map[string]entry // confirmed or hashed this session; what Save keeps
	lastFull time.Time
	openedAt time.Time
	stats    Stats
}

// Open loads the cache stored at path. An empty path gives a cache that
// lives in memory only (Save does nothing).
//
// Open always returns a usable Cache. The error is a warning for the caller
// to report: a cache file that cannot be read or parsed (wrapping ErrCorrupt)
// is discarded and the cache starts empty, which costs one full re-hash and
// nothing else. A missing file is not a warning.
func Open(path string, opts Options) (*Cache, error) {
	c := &Cache{
		path:      path,
		workers:   opts.Workers,
		fullEvery: opts.FullEvery,
		now:       opts.Now,
		old:       map[string]entry{},
		seen:      map[string]entry{},
	}
	if c.workers <= 0 {
		c.workers = runtime.NumCPU()
	}
	if c.fullEvery == 0 {
		c.fullEvery = DefaultFullEvery
	}
	if c.now == nil {
		c.now = time.Now
	}
	size := opts.BufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	c.bufs.New = func() any { b := make([]byte, size); return &b }

	warning := c.load()
	c.openedAt = c.now()
	if c.fullEvery > 0 {
		age := c.openedAt.Sub(c.lastFull)
		// A last pass in the future means the clock went back; do not let
		// that postpone the next full pass indefinitely.
		c.stats.FullPass = age >= c.fullEvery || age < 0
	}
	return c, warning
}

func (c *Cache) load() error {
	if c.path == "" {
		return nil
	}
	data, err := atomicfile.ReadFile(c.path, maxCacheFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load hash cache: discarding it: %w", err)
	}
	var f cacheFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("load hash cache %s: discarding it: %w: %v", c.path, ErrCorrupt, err)
	}
	if f.Version != fileFormatVersion {
		return fmt.Errorf("load hash cache %s: discarding it: %w: version %d, want %d",
			c.path, ErrCorrupt, f.Version, fileFormatVersion)
	}
	for p, e := range f.Entries {
		if !validDigest(e.SHA256) {
			return fmt.Errorf("load hash cache %s: discarding it: %w: bad digest for %s",
				c.path, ErrCorrupt, p)
		}
	}
	if f.Entries != nil {
		c.old = f.Entries
	}
	c.lastFull = f.LastFullPass
	return nil
}

func validDigest(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Sum returns the SHA-256 of the file at path, from the cache when its stat
// is unchanged (and this is not a full pass), otherwise by reading it.
// Symlinks are followed. The error is a *fs.PathError for a missing or
// unreadable file, wraps ErrNotRegular for a directory or device, and is the
// context's error if ctx ends first.
func (c *Cache) Sum(ctx context.Context, path string) (Result, error) {
	res := Result{Path: path}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	key := cacheKey(path)

	// A full pass ignores what earlier sessions stored, not what this one
	// has just hashed.
	c.mu.Lock()
	cached, usable := c.seen[key]
	prev, havePrev := c.old[key]
	if !usable && havePrev && !c.stats.FullPass {
		cached, usable = prev, true
	}
	c.mu.Unlock()

	if usable && trustedKeys {
		k, err := statPath(path)
		if err != nil {
			c.forget(key)
			return res, err
		}
		if k == cached.fileKey {
			c.mu.Lock()
			c.seen[key] = cached
			c.stats.Hits++
			c.mu.Unlock()
			res.SHA256, res.Size, res.FromCache = cached.SHA256, k.Size, true
			return res, nil
		}
	}

	sum, k, n, trusted, err := c.hashFile(ctx, path)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.BytesHashed += n
	if err != nil {
		delete(c.seen, key)
		return res, err
	}
	c.stats.Misses++
	if havePrev && prev.fileKey == k && prev.SHA256 != sum {
		c.stats.SilentChanges++
	}
	if trusted && trustedKeys {
		c.seen[key] = entry{fileKey: k, SHA256: sum}
	} else {
		delete(c.seen, key)
	}
	res.SHA256, res.Size = sum, k.Size
	return res, nil
}

func (c *Cache) forget(key string) {
	c.mu.Lock()
	delete(c.seen, key)
	c.mu.Unlock()
}

// cacheKey makes the cache independent of the working directory.
func cacheKey(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// hashFile reads the file once. trusted reports whether the digest may be
// cached: the stat was the same before and after the read and the file had
// not been changed within racyWindow of the read.
func (c *Cache) hashFile(ctx context.Context, path string) (sum string, k fileKey, n int64, trusted bool, err error) {
	start := c.now()
	f, err := openForHash(path)
	if err != nil {
		return "", k, 0, false, err
	}
	defer f.Close()
	before, err := statFile(f)
	if err != nil {
		return "", k, 0, false, err
	}

	bufp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bufp)
	buf := *bufp
	h := sha256.New()
	// A plain read loop rather than io.CopyBuffer: *os.File has a WriteTo
	// that would bypass our buffer with a 32 KiB one of its own.
	for {
		if err := ctx.Err(); err != nil {
			return "", k, n, false, err
		}
		m, rerr := f.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", k, n, false, rerr
		}
	}

	after, err := statFile(f)
	if err != nil {
		return "", k, n, false, err
	}
	if after != before || n != after.Size {
		return "", k, n, false, &fs.PathError{Op: "hash", Path: path, Err: ErrChangedWhileHashing}
	}
	racy := after.CtimeNs >= start.Add(-racyWindow).UnixNano() ||
		after.MtimeNs >= start.Add(-racyWindow).UnixNano()
	return hex.EncodeToString(h.Sum(nil)), after, n, !racy, nil
}

// HashFiles hashes paths with the configured number of workers and returns
// one Result per path, in input order; a file's own failure (missing,
// unreadable) is in its Result.Err and does not stop the others. The error
// is non-nil only when ctx ended: the files not reached then carry the
// context's error.
func (c *Cache) HashFiles(ctx context.Context, paths []string) ([]Result, error) {
	results := make([]Result, len(paths))
	workers := min(c.workers, len(paths))

	// Largest files first, so one big file started last does not leave the
	// other workers idle at the end (the longest-processing-time rule).
	order := make([]int, len(paths))
	for i := range order {
		order[i] = i
	}
	if workers > 1 {
		sizes := make([]int64, len(paths))
		for i, p := range paths {
			if fi, err := os.Stat(p); err == nil {
				sizes[i] = fi.Size()
			}
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				j := next.Add(1) - 1
				if j >= int64(len(order)) {
					return
				}
				i := order[j]
				r, err := c.Sum(ctx, paths[i])
				r.Err = err
				results[i] = r
			}
		})
	}
	wg.Wait()
	return results, ctx.Err()
}

// Stats returns the counters since Open.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Save writes the cache atomically (temporary file, fsync, rename), keeping
// only the files asked about since Open. After a full pass it records the
// time the pass started. A memory-only cache saves nothing.
func (c *Cache) Save() error {
	if c.path == "" {
		return nil
	}
	c.mu.Lock()
	f := cacheFile{Version: fileFormatVersion, LastFullPass: c.lastFull, Entries: c.seen}
	// Every entry kept was hashed in this session when it is a full pass:
	// files not reached (a cancelled tick) are pruned, so they are hashed
	// next time anyway.
	if c.stats.FullPass {
		f.LastFullPass = c.openedAt
	}
	data, err := json.Marshal(f)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save hash cache %s: %w", c.path, err)
	}
	if err := atomicfile.WriteFile(c.path, data, 0o600); err != nil {
		return fmt.Errorf("save hash cache: %w", err)
	}
	return nil
}
