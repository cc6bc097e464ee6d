package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// report is one run's results.
type report struct {
	N           int
	Pairs       []pairResult
	RSSFloor    int64
	RSSFloorErr string
	RSS         []rssResult
	Sizes       []sizeResult
	Hash        hashResult
	// PaceSelf is what the pace ticks' own tick_done events say they cost.
	PaceSelf selfCPU
	Took     time.Duration
	// Failed counts measurements that could not be made (not missed
	// targets, and not binaries that are simply absent).
	Failed int
}

func (r *report) countFailures() {
	r.Failed = 0
	for _, p := range r.Pairs {
		if p.Err != "" {
			r.Failed++
		}
	}
	for _, x := range r.RSS {
		if x.Err != "" && !strings.HasPrefix(x.Err, "not built") {
			r.Failed++
		}
	}
	if r.Hash.Err != "" {
		r.Failed++
	}
}

// mbBar is a target in whole MB: "20 MB".
func mbBar(b int64) string { return fmt.Sprintf("%d MB", b/1e6) }

// target is the result's RSS bar (rssTarget for a result made without one).
func (x rssResult) target() int64 {
	if x.Target > 0 {
		return x.Target
	}
	return rssTarget
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// verdict marks a value against an upper bound.
func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

// Text renders the report as the human table.
func (r *report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "council-bench on %s/%s, %d CPUs (%s), %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.Version())
	fmt.Fprintf(&b, "ticks: %d interleaved runs per side after one warm-up, medians; CPU = user+sys from rusage; MB = 10^6 bytes\n\n", r.N)
	r.ticksText(&b)
	r.rssText(&b)
	r.sizesText(&b)

	b.WriteString("\n== hashing vs openssl dgst -sha256 (pkg/testkit/hashbench)\n")
	switch {
	case r.Hash.Skipped != "":
		fmt.Fprintf(&b, "  %s\n", r.Hash.Skipped)
	case r.Hash.Err != "":
		fmt.Fprintf(&b, "  FAILED: %s\n", r.Hash.Err)
		b.WriteString(r.Hash.Table)
	default:
		b.WriteString(r.Hash.Table)
	}
	if missed := r.Missed(); len(missed) > 0 {
		fmt.Fprintf(&b, "\ntargets MISSED (%d): %s\n", len(missed), strings.Join(missed, "; "))
	} else {
		b.WriteString("\nevery target measured was met\n")
	}
	if r.Took > 0 {
		fmt.Fprintf(&b, "\ntook %s\n", r.Took.Round(time.Second))
	}
	return b.String()
}

// ticksText is the tick table: each pair's rows against its baseline,
// then the notes (skipped, failed, what the baseline was).
func (r *report) ticksText(b *strings.Builder) {
	b.WriteString("== tick cost vs the shell equivalent (same healthy loopback simulator, in this process)\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tours\tbaseline\tours/baseline\ttarget")
	var notes []string
	for _, p := range r.Pairs {
		switch {
		case p.Missing != "":
			notes = append(notes, fmt.Sprintf("%s: skipped: %s", p.Name, p.Missing))
			continue
		case p.Err != "":
			notes = append(notes, fmt.Sprintf("%s: FAILED: %s", p.Name, p.Err))
			continue
		}
		for _, m := range p.rows() {
			target := ""
			if m.bar != "" {
				target = m.bar + " " + verdict(!m.missed)
			}
			fmt.Fprintf(tw, "%s, %s\t%s\t%s\t%s\t%s\n", p.Name, m.what, ms(m.ours), m.base, m.ratio, target)
		}
		if p.CallLog != "" {
			fmt.Fprintf(tw, "%s, calls to the service manager\t%d in %d ticks\t\t\t0 %s\n", p.Name, p.ManagerCalls, len(p.Ours), verdict(p.ManagerCalls == 0))
		}
		if p.NoBase != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", p.Name, p.NoBase))
		} else {
			notes = append(notes, fmt.Sprintf("%s baseline: %s", p.Name, p.BaseName))
		}
		if p.CallLog != "" {
			notes = append(notes, fmt.Sprintf("%s: healthy ticks after a warm-up whose answer is remembered; the pid and start time are checked in /proc, no fork or exec (systemctl calls counted in the simulated systemd's log)", p.Name))
		}
	}
	tw.Flush()
	if r.PaceSelf != (selfCPU{}) {
		notes = append(notes, r.PaceSelf.note("pace tick"))
	}
	for _, n := range notes {
		fmt.Fprintf(b, "  %s\n", n)
	}
}

// rssText is the peak RSS table, above the floor of any process.
func (r *report) rssText(b *strings.Builder) {
	b.WriteString("\n== peak RSS of one tick (highest of 3)\n")
	if r.RSSFloorErr != "" {
		fmt.Fprintf(b, "  floor unknown: %s\n", r.RSSFloorErr)
	} else {
		fmt.Fprintf(b, "  floor: %s (true(1) through the same launcher; a reading at the floor means \"at most this\")\n", mb(r.RSSFloor))
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "binary\tpeak RSS\ttarget\ttick exit\tnote")
	for _, x := range r.RSS {
		if x.Err != "" {
			fmt.Fprintf(tw, "%s\t-\t\t\t%s\n", x.Binary, x.Err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t< %s %s\t%d\t%s\n", x.Binary, mb(x.Bytes), mbBar(x.target()), verdict(x.Bytes < x.target()), x.Code, x.Note)
	}
	tw.Flush()
}

// sizesText is the stripped binaries' sizes.
func (r *report) sizesText(b *strings.Builder) {
	b.WriteString("\n== stripped binary size\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "binary\tsize\ttarget")
	if len(r.Sizes) == 0 {
		fmt.Fprintln(tw, "(no council-* binaries built)\t\t")
	}
	for _, s := range r.Sizes {
		fmt.Fprintf(tw, "%s\t%s\t< 10 MB %s\n", s.Binary, mb(s.Bytes), verdict(s.Bytes < sizeTarget))
	}
	tw.Flush()
}

// tickRow is one line of the tick table.
type tickRow struct {
	what        string // "wall", "CPU"
	ours        time.Duration
	base, ratio string
	bar         string // the target ("< 1x"); "" when the row has none
	missed      bool
}

// rows are a measured pair's wall and CPU lines with their targets: the
// guardian must beat its shell baseline on both (docs/RELIABILITY.md); a pair
// with a CPUTarget must stay under it.
func (p pairResult) rows() []tickRow {
	ow, oc := medians(p.Ours)
	bw, bc := medians(p.BaseS)
	vsBase := p.Bench == "Tick/guardian"
	var out []tickRow
	for _, m := range []struct {
		what       string
		ours, base time.Duration
		limit      time.Duration
	}{{"wall", ow, bw, 0}, {"CPU", oc, bc, p.CPUTarget}} {
		r := tickRow{what: m.what, ours: m.ours, base: "n/a", ratio: "-"}
		if p.NoBase == "" {
			r.base = ms(m.base)
			r.ratio = fmt.Sprintf("%.2fx", float64(m.ours)/float64(m.base))
			if vsBase {
				r.bar, r.missed = "< 1x", m.ours >= m.base
			}
		}
		if m.limit > 0 {
			r.bar, r.missed = "well under "+m.limit.String()+" CPU", m.ours >= m.limit
		}
		out = append(out, r)
	}
	return out
}

// Missed lists every target the table marks MISSED: the guardian against
// its shell baseline, parity-smoke's CPU, peak RSS and binary size, and the
// hashing ratios hashbench marks "(below)". What could not be measured is
// not listed (it counts in Failed).
func (r *report) Missed() []string {
	var out []string
	for _, p := range r.Pairs {
		if p.Missing != "" || p.Err != "" {
			continue
		}
		for _, m := range p.rows() {
			if m.missed {
				out = append(out, fmt.Sprintf("%s, %s %s (%s)", p.Name, m.what, ms(m.ours), m.bar))
			}
		}
		if p.CallLog != "" && p.ManagerCalls != 0 {
			out = append(out, fmt.Sprintf("%s, %d calls to the service manager in %d healthy ticks (0)", p.Name, p.ManagerCalls, len(p.Ours)))
		}
	}
	for _, x := range r.RSS {
		if x.Err == "" && x.Bytes >= x.target() {
			out = append(out, fmt.Sprintf("peak RSS of %s %s (< %s)", x.Binary, mb(x.Bytes), mbBar(x.target())))
		}
	}
	for _, s := range r.Sizes {
		if s.Bytes >= sizeTarget {
			out = append(out, fmt.Sprintf("size of %s %s (< 10 MB)", s.Binary, mb(s.Bytes)))
		}
	}
	for _, h := range r.Hash.Rows {
		if strings.Contains(h.Tgt, "(below)") {
			out = append(out, fmt.Sprintf("hashing %s: %s (%s)", h.What, h.Ratio, strings.TrimSpace(strings.TrimSuffix(h.Tgt, "(below)"))))
		}
	}
	return out
}

func medians(s []sample) (wall, cpu time.Duration) {
	w := make([]time.Duration, len(s))
	c := make([]time.Duration, len(s))
	for i, x := range s {
		w[i], c[i] = x.Wall, x.CPU
	}
	return median(w), median(c)
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// benchName makes a benchmark name segment from free text.
func benchName(s string) string { return strings.Trim(nonName.ReplaceAllString(s, "-"), "-") }

// Bench renders the samples in the Go benchmark format that benchstat
// reads: one line per sample, so benchstat can compute its spread.
func (r *report) Bench() string {
	var b strings.Builder
	fmt.Fprintf(&b, "goos: %s\ngoarch: %s\npkg: github.com/sanctum/council-probes/integration/cmd/council-bench\ncpu: %s\n", runtime.GOOS, runtime.GOARCH, cpuModel())
	procs := runtime.GOMAXPROCS(0)
	for _, p := range r.Pairs {
		for _, side := range []struct {
			name string
			s    []sample
		}{{p.Bench, p.Ours}, {p.Base, p.BaseS}} {
			for _, x := range side.s {
				fmt.Fprintf(&b, "Benchmark%s-%d\t1\t%d ns/op\t%d cpu-ns/op\n", side.name, procs, x.Wall.Nanoseconds(), x.CPU.Nanoseconds())
			}
		}
	}
	for _, x := range r.RSS {
		if x.Err == "" {
			fmt.Fprintf(&b, "BenchmarkPeakRSS/%s\t1\t%d peak-RSS-B\n", x.Binary, x.Bytes)
		}
	}
	for _, s := range r.Sizes {
		fmt.Fprintf(&b, "BenchmarkBinarySize/%s\t1\t%d B\n", s.Binary, s.Bytes)
	}
	for _, h := range r.Hash.Rows {
		unit := h.Unit
		fmt.Fprintf(&b, "BenchmarkHash/%s\t1\t%g %s", benchName(h.What), h.Ours, unit)
		if h.Base > 0 {
			fmt.Fprintf(&b, "\t%g openssl-%s", h.Base, unit)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Save writes OUT/<timestamp>.txt, OUT/<timestamp>.bench and
// OUT/latest.bench, and returns their paths.
func (r *report) Save(dir string, at time.Time) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	stamp := at.Format("20060102-150405")
	files := []struct{ path, body string }{
		{filepath.Join(dir, stamp+".txt"), r.Text()},
		{filepath.Join(dir, stamp+".bench"), r.Bench()},
		{filepath.Join(dir, "latest.bench"), r.Bench()},
	}
	var paths []string
	for _, f := range files {
		if err := os.WriteFile(f.path, []byte(f.body), 0o644); err != nil {
			return paths, fmt.Errorf("save results: %w", err)
		}
		paths = append(paths, f.path)
	}
	return paths, nil
}
