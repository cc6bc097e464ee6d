// The hashbench command measures pkg/host/hashcache against `openssl dgst
// -sha256` on this machine, in one run, and prints the ratios: one large
// file on one core, many files on all cores, a cached re-check of unchanged
// files, and peak RSS for a small and a large file (to show memory is flat).
// It writes its files to a temporary directory and removes them after.
//
// The files are read once before timing, so both sides hash from the page
// cache: the figures are hashing speed, not disk speed. If openssl is not
// installed the baseline columns say so and only our figures are printed.
//
// Usage:
//
//	hashbench [flags]
//
//	-large SIZE       the single large file (default 1GiB)
//	-files N          how many files for the parallel run (default 64)
//	-file-size SIZE   size of each of those (default 16MiB)
//	-workers N        workers for the parallel run (default: CPUs)
//	-runs N           repeat each timing, keep the best (default 3)
//	-dir DIR          where to make the files (default: $TMPDIR)
//	-openssl PATH     openssl binary (default: openssl on PATH)
//
// SIZE takes a K, M or G suffix (powers of 1024). `make bench` runs it with
// the defaults (2 GiB of files); -large 256M -files 16 -file-size 16M is a
// quick run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sanctum/council-probes/pkg/host/hashcache"
)

// childEnv makes the binary hash one file and exit, so the parent can read
// the child's peak RSS from its rusage.
const childEnv = "HASHBENCH_CHILD_HASH"

func main() {
	if p := os.Getenv(childEnv); p != "" {
		os.Exit(child(p, os.Stdout))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// child hashes path with one worker and prints the digest and its own peak
// RSS in MiB.
func child(path string, out io.Writer) int {
	c, _ := hashcache.Open("", hashcache.Options{Workers: 1})
	r, err := c.Sum(context.Background(), path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rss, err := selfPeakRSS()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(out, r.SHA256, rss)
	return 0
}

type config struct {
	large, fileSize int64
	files, workers  int
	runs            int
	dir, openssl    string
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hashbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	large := fs.String("large", "1G", "size of the single large file")
	fileSize := fs.String("file-size", "16M", "size of each of the many files")
	fs.IntVar(&cfg.files, "files", 64, "number of files for the parallel run")
	fs.IntVar(&cfg.workers, "workers", runtime.NumCPU(), "workers for the parallel run")
	fs.IntVar(&cfg.runs, "runs", 3, "repeat each timing and keep the best")
	fs.StringVar(&cfg.dir, "dir", "", "directory for the files (default $TMPDIR)")
	fs.StringVar(&cfg.openssl, "openssl", "openssl", "openssl binary")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if cfg.large, err = parseSize(*large); err == nil {
		cfg.fileSize, err = parseSize(*fileSize)
	}
	if err == nil && (cfg.files < 1 || cfg.workers < 1 || cfg.runs < 1) {
		err = errors.New("-files, -workers and -runs must be at least 1")
	}
	if err != nil {
		fmt.Fprintln(stderr, "hashbench:", err)
		return 2
	}
	if err := bench(cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "hashbench:", err)
		return 1
	}
	return 0
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB")
	t = strings.TrimSuffix(t, "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 512M, 2G)", s)
	}
	return int64(v * float64(mult)), nil
}

func bench(cfg config, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp(cfg.dir, "hashbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &benchRun{config: cfg, dir: dir, stderr: stderr, ctx: context.Background()}
	if err := b.writeFiles(); err != nil {
		return err
	}
	openssl, err := exec.LookPath(cfg.openssl)
	if err != nil {
		fmt.Fprintf(stderr, "openssl not found (%v): skipping the baseline, printing our figures only\n", err)
		openssl = ""
	}
	b.openssl = openssl

	var rows []row
	for _, measure := range []func() ([]row, error){b.large, b.many, b.recheck, b.peakRSS} {
		r, err := measure()
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	printTable(stdout, rows, openssl != "")
	return nil
}

// benchRun is one run's files and tools.
type benchRun struct {
	config
	dir     string
	openssl string // "" without openssl: no baseline
	stderr  io.Writer
	ctx     context.Context

	largePath string
	manyPaths []string
	manyBytes int64
	written   time.Time
}

// writeFiles writes the large file and the many, then reads each once so
// both sides hash from the page cache.
func (b *benchRun) writeFiles() error {
	fmt.Fprintf(b.stderr, "writing %s + %d x %s to %s ...\n",
		human(b.config.large), b.files, human(b.fileSize), b.dir)
	b.largePath = filepath.Join(b.dir, "large.bin")
	if err := writeRandom(b.largePath, b.config.large, 0); err != nil {
		return err
	}
	b.manyPaths = make([]string, b.files)
	for i := range b.manyPaths {
		b.manyPaths[i] = filepath.Join(b.dir, fmt.Sprintf("shard-%04d.bin", i))
		if err := writeRandom(b.manyPaths[i], b.fileSize, uint64(i+1)); err != nil {
			return err
		}
	}
	b.written = time.Now()
	b.manyBytes = b.fileSize * int64(b.files)
	for _, p := range append([]string{b.largePath}, b.manyPaths...) {
		if err := warm(p); err != nil {
			return err
		}
	}
	return nil
}

// large is one large file on one core, against openssl dgst (whose digest
// must match ours).
func (b *benchRun) large() ([]row, error) {
	var ourDigest string
	ours, err := best(b.runs, func() error {
		c, _ := hashcache.Open("", hashcache.Options{Workers: 1})
		r, err := c.Sum(b.ctx, b.largePath)
		ourDigest = r.SHA256
		return err
	})
	if err != nil {
		return nil, err
	}
	r := row{what: fmt.Sprintf("1 file of %s, 1 core", human(b.config.large)), unit: "MB/s",
		ours: mbps(b.config.large, ours), target: 0.9}
	if b.openssl != "" {
		var out []byte
		d, err := best(b.runs, func() (err error) {
			out, err = exec.Command(b.openssl, "dgst", "-sha256", "-r", b.largePath).Output()
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("openssl dgst: %w", err)
		}
		if got := strings.Fields(string(out)); len(got) == 0 || got[0] != ourDigest {
			return nil, fmt.Errorf("digest mismatch on %s: ours %s, openssl %q", b.largePath, ourDigest, out)
		}
		r.base = mbps(b.config.large, d)
	}
	return []row{r}, nil
}

// many is the many files: ours on all workers (and on one, for reference)
// against openssl hashing them one after the other.
func (b *benchRun) many() ([]row, error) {
	var rows []row
	for _, workers := range uniq(b.workers, 1) {
		d, err := best(b.runs, func() error {
			c, _ := hashcache.Open("", hashcache.Options{Workers: workers})
			res, err := c.HashFiles(b.ctx, b.manyPaths)
			for _, r := range res {
				if r.Err != nil {
					return r.Err
				}
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		r := row{what: fmt.Sprintf("%d files of %s, %d worker(s)", b.files, human(b.fileSize), workers),
			unit: "MB/s", ours: mbps(b.manyBytes, d)}
		if workers == b.workers {
			r.target = 0.9 * float64(workers)
		}
		rows = append(rows, r)
	}
	if b.openssl != "" {
		d, err := best(b.runs, func() error {
			return exec.Command(b.openssl, append([]string{"dgst", "-sha256"}, b.manyPaths...)...).Run()
		})
		if err != nil {
			return nil, fmt.Errorf("openssl dgst: %w", err)
		}
		for i := range rows {
			rows[i].base = mbps(b.manyBytes, d)
		}
	}
	return rows, nil
}

// recheck is a re-check of unchanged files through a saved cache: open,
// stat all, save. Files written less than 2 s ago are deliberately not
// trusted by the cache (the racy window), so that is waited out first.
func (b *benchRun) recheck() ([]row, error) {
	if wait := 2100*time.Millisecond - time.Since(b.written); wait > 0 {
		time.Sleep(wait)
	}
	all := append([]string{b.largePath}, b.manyPaths...)
	cachePath := filepath.Join(b.dir, "cache.json")
	c, _ := hashcache.Open(cachePath, hashcache.Options{FullEvery: -1})
	if _, err := c.HashFiles(b.ctx, all); err != nil {
		return nil, err
	}
	if err := c.Save(); err != nil {
		return nil, err
	}
	d, err := best(b.runs, func() error {
		c, warn := hashcache.Open(cachePath, hashcache.Options{FullEvery: -1})
		if warn != nil {
			return warn
		}
		if _, err := c.HashFiles(b.ctx, all); err != nil {
			return err
		}
		if s := c.Stats(); s.Hits != len(all) {
			return fmt.Errorf("cached re-check: %d hits of %d files", s.Hits, len(all))
		}
		return c.Save()
	})
	if err != nil {
		return nil, err
	}
	return []row{{what: fmt.Sprintf("cached re-check, %d unchanged files (%s)", len(all), human(b.config.large+b.manyBytes)),
		unit: "ms", ours: float64(d.Microseconds()) / 1000}}, nil
}

// peakRSS is the peak RSS of a whole process hashing a small and a large
// file: this binary as a child, against openssl's.
func (b *benchRun) peakRSS() ([]row, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, f := range []struct {
		path string
		size int64
	}{{b.manyPaths[0], b.fileSize}, {b.largePath, b.config.large}} {
		r := row{what: fmt.Sprintf("peak RSS hashing %s", human(f.size)), unit: "MiB"}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), childEnv+"="+f.path)
		cmd.Stderr = b.stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("rss child: %w", err)
		}
		var digest string
		if _, err := fmt.Sscan(string(out), &digest, &r.ours); err != nil {
			return nil, fmt.Errorf("rss child said %q: %w", out, err)
		}
		if b.openssl != "" {
			r.base, err = pipedPeakRSS(exec.Command(b.openssl, "dgst", "-sha256"), f.path)
			if errors.Is(err, errors.ErrUnsupported) {
				r.base = 0
			} else if err != nil {
				return nil, err
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

type row struct {
	what       string
	unit       string
	ours, base float64
	target     float64 // minimum ours/openssl ratio, 0 for none
}

func printTable(w io.Writer, rows []row, haveBase bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tours\topenssl\tours/openssl\ttarget")
	for _, r := range rows {
		base, ratio, target := "-", "-", ""
		if !haveBase {
			base = "n/a"
		}
		if r.base > 0 {
			base = fmt.Sprintf("%.1f %s", r.base, r.unit)
			ratio = fmt.Sprintf("%.2fx", r.ours/r.base)
		}
		if r.target > 0 {
			target = fmt.Sprintf(">= %.2fx", r.target)
			if r.base > 0 && r.ours/r.base < r.target {
				target += " (below)"
			}
		}
		fmt.Fprintf(tw, "%s\t%.1f %s\t%s\t%s\t%s\n", r.what, r.ours, r.unit, base, ratio, target)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d CPUs, %s/%s, %s; MB = 10^6 bytes; best of the runs; files in the page cache.\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// best runs f n times and returns the shortest wall time.
func best(n int, f func() error) (time.Duration, error) {
	var min time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		if d := time.Since(start); i == 0 || d < min {
			min = d
		}
	}
	return min, nil
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func uniq(a, b int) []int {
	if a == b {
		return []int{a}
	}
	return []int{a, b}
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

// writeRandom writes size bytes of incompressible data: one random block
// repeated, each 1 MiB chunk stamped with its file and offset so no two
// chunks are equal (no filesystem can dedupe or compress them away).
func writeRandom(path string, size int64, seed uint64) error {
	const chunk = 1 << 20
	block := make([]byte, chunk)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 42})
	rng.Read(block)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		stamp := fmt.Appendf(nil, "%d:%d;", seed, off)
		copy(block, stamp)
		if _, err := f.Write(block[:n]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// warm reads a file once so that the timed runs read from the page cache.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, make([]byte, 1<<20))
	return err
}
