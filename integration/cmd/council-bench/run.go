package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

type config struct {
	bin, out  string
	n         int
	hashArgs  string
	noHash    bool
	hashbench string
	repo      string
	strict    bool
}

// The performance targets (docs/RELIABILITY.md): peak RSS and stripped
// binary size. MB is 10^6 bytes throughout.
const (
	rssTarget  = 20e6
	sizeTarget = 10e6
)

// runTimeout bounds one measured process: a tick against a healthy
// loopback simulator takes milliseconds; this only catches a hang.
const runTimeout = 30 * time.Second

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("council-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.bin, "bin", "bin", "directory of the built binaries (make build)")
	fs.StringVar(&cfg.out, "out", "bench-results", "directory for the results")
	fs.IntVar(&cfg.n, "n", 30, "repetitions of each timed tick")
	fs.StringVar(&cfg.hashArgs, "hash-args", "", `flags passed to hashbench (e.g. "-large 8G -files 256")`)
	fs.BoolVar(&cfg.noHash, "no-hash", false, "skip the hashing benchmark")
	fs.StringVar(&cfg.hashbench, "hashbench", "", "a built hashbench binary (default: go build it)")
	fs.StringVar(&cfg.repo, "repo", ".", "the workspace root, for parity-smoke's default prompts and the simulator's answers to them")
	fs.BoolVar(&cfg.strict, "strict", false, "exit 1 when any target is MISSED (default: print the table, exit 0; make bench on a loaded laptop still prints)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: council-bench [flags]

Measures the built probes (make build) as whole processes against the
shell/openssl baselines they replace and prints the table of targets;
results go to -out. Exit status: 0 when everything was measured (missed
targets are marked MISSED in the table, and fail the run only with -strict),
1 when something could not be measured or, with -strict, a target was
missed, 2 on bad flags.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || cfg.n < 1 {
		fmt.Fprintln(stderr, "council-bench: unexpected arguments, or -n below 1")
		return 2
	}
	started := time.Now()
	rep, err := bench(context.Background(), cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "council-bench:", err)
		return 1
	}
	rep.Took = time.Since(started)
	text := rep.Text()
	fmt.Fprint(stdout, text)
	paths, err := rep.Save(cfg.out, started)
	if err != nil {
		fmt.Fprintln(stderr, "council-bench:", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nsaved %s\n", strings.Join(paths, ", "))
	if rep.Failed > 0 {
		return 1
	}
	if missed := rep.Missed(); cfg.strict && len(missed) > 0 {
		fmt.Fprintf(stderr, "council-bench: -strict: %d target(s) missed: %s\n", len(missed), strings.Join(missed, "; "))
		return 1
	}
	return 0
}

// env is what every measured tick runs against: a throwaway $HOME with no
// certs and no token (so the probes use plain HTTP), a healthy simulator,
// and the binaries.
type env struct {
	Home, StateDir string
	SimURL         string
	Bin            string
	Sim            *councilsim.Sim
	// Launcher is the built ./launcher, or "" with LauncherErr saying why.
	Launcher, LauncherErr string
	// ParityPrompts is the size of parity-smoke's default set, which the
	// simulator answers; ParityErr says why it cannot.
	ParityPrompts int
	ParityErr     string
	// setups records each tick's one-time setup result; cleanups stop
	// what setups started.
	setups   map[string]error
	cleanups []func()
}

// Env is the process environment of a probe tick.
func (e *env) Env(extra ...string) []string {
	return append([]string{"HOME=" + e.Home, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, extra...)
}

// BinPath is the path of a built binary, or "" if it is not there.
func (e *env) BinPath(name string) string {
	p := filepath.Join(e.Bin, name)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return ""
	}
	return p
}

func bench(ctx context.Context, cfg config, stderr io.Writer) (*report, error) {
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(bin); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("no binaries in %s: run make build first", cfg.bin)
	}
	home, err := os.MkdirTemp("", "council-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	e := &env{Home: home, StateDir: filepath.Join(home, ".sanctum", "state"), Bin: bin, setups: map[string]error{}}
	defer func() {
		for _, f := range e.cleanups {
			f()
		}
		if p := e.BinPath("fake-launchctl"); p != "" {
			// The fake launchd starts programs for loaded labels; stop them.
			cmd := exec.Command(p, "bootout", fmt.Sprintf("gui/%d/%s", os.Getuid(), primaryLabel))
			cmd.Env = append(e.Env(), e.launchdEnv()...)
			cmd.Run()
		}
	}()
	if err := os.MkdirAll(e.StateDir, 0o700); err != nil {
		return nil, err
	}
	if err := e.startSim(ctx, cfg.repo); err != nil {
		return nil, err
	}
	defer e.Sim.Close()

	rep := &report{N: cfg.n}
	progress := func(what string) { fmt.Fprintf(stderr, "council-bench: %s ...\n", what) }

	progress(fmt.Sprintf("guardian tick vs curl|jq, %d runs each", cfg.n))
	rep.Pairs = append(rep.Pairs, comparePair(ctx, e, cfg.n, guardianPair(e)))
	progress(fmt.Sprintf("canary tick vs curl|jq chat, %d runs each", cfg.n))
	rep.Pairs = append(rep.Pairs, comparePair(ctx, e, cfg.n, canaryPair(e)))
	progress(fmt.Sprintf("parity-smoke tick with its default prompts, %d runs", cfg.n))
	rep.Pairs = append(rep.Pairs, comparePair(ctx, e, cfg.n, parityRun(e)))
	progress(fmt.Sprintf("pace tick, %d runs", cfg.n))
	rep.Pairs = append(rep.Pairs, comparePair(ctx, e, cfg.n, paceRun(e)))
	rep.PaceSelf = readSelfCPU(benchLog(e), "pace")

	progress("peak RSS of one tick of each probe")
	e.Launcher = filepath.Join(home, "launcher")
	if err := goBuild(ctx, launcherPkg, e.Launcher); err != nil {
		e.Launcher, e.LauncherErr = "", err.Error()
	}
	rep.RSSFloor, rep.RSSFloorErr = rssFloor(ctx, e)
	for _, spec := range tickSpecs {
		rep.RSS = append(rep.RSS, measureRSS(ctx, e, spec))
	}

	rep.Sizes, err = binarySizes(bin)
	if err != nil {
		return nil, err
	}

	if cfg.noHash {
		rep.Hash = hashResult{Skipped: "skipped (-no-hash)"}
	} else {
		progress("hashing vs openssl dgst -sha256 (hashbench)")
		rep.Hash = runHashbench(ctx, cfg, home, stderr)
	}
	rep.countFailures()
	return rep, nil
}

// startSim starts the healthy simulator every tick asks, answering the
// parity prompts of the repository at repo as they expect.
func (e *env) startSim(ctx context.Context, repo string) error {
	answers := map[string]string{"capital of France": "Paris"}
	if pa, err := parityAnswers(repo); err != nil {
		e.ParityErr = err.Error()
	} else {
		e.ParityPrompts = len(pa)
		for k, v := range pa {
			answers[k] = v
		}
	}
	e.Sim = councilsim.New(councilsim.Config{PlainAddr: "127.0.0.1:0", Answers: answers})
	if err := e.Sim.Start(ctx); err != nil {
		return fmt.Errorf("start the simulator: %w", err)
	}
	e.SimURL = e.Sim.PlainURL()
	return nil
}

// pair is a probe tick and the shell command it replaces, run against the
// same simulator.
type pair struct {
	Name        string // "guardian tick"
	Bench, Base string // benchmark names for the .bench file
	BaseName    string // "curl | jq"
	Probe       command
	Shell       command
	Missing     string // why the probe side cannot run
	NoBase      string // why the baseline cannot run
	// CPUTarget, when set, is an absolute bar for the probe's median CPU.
	CPUTarget time.Duration
	// CallLog, when set, is the service manager's call log: the measured
	// ticks' calls to it are counted (the warm-up's are not).
	CallLog string
}

type pairResult struct {
	pair
	Ours, BaseS []sample
	Err         string
	// ManagerCalls is how many calls to the service manager's commands
	// the measured ticks made (with CallLog), each a fork and exec.
	ManagerCalls int
}

func shellBaseline(script string, tools ...string) (command, string) {
	for _, tool := range append([]string{"sh"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			return command{}, fmt.Sprintf("%s not installed: baseline skipped", tool)
		}
	}
	return command{Argv: []string{"sh", "-c", script}, Env: []string{"PATH=" + os.Getenv("PATH")}}, ""
}

func guardianPair(e *env) pair {
	p := pair{Name: "guardian tick", Bench: "Tick/guardian", Base: "Tick/shell-models", BaseName: "curl -sf /v1/models | jq -e",
		CallLog: e.systemdLog()}
	p.Shell, p.NoBase = shellBaseline(fmt.Sprintf("curl -sf %s/v1/models | jq -e '.data | length > 0'", e.SimURL), "curl", "jq")
	if s, ok := specFor("council-guardian"); ok {
		p.Probe, p.Missing = s.command(e)
	}
	return p
}

func canaryPair(e *env) pair {
	p := pair{Name: "canary tick", Bench: "Tick/canary", Base: "Tick/shell-chat", BaseName: "curl -sf chat | jq -e"}
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"What is 2+2? Respond with only the number."}],"temperature":0,"max_tokens":8}`, councilsim.DefaultModel)
	p.Shell, p.NoBase = shellBaseline(fmt.Sprintf(
		`curl -sf -H 'Content-Type: application/json' -d '%s' %s/v1/chat/completions | jq -e '.choices[0].message.content | test("4")'`,
		body, e.SimURL), "curl", "jq")
	if s, ok := specFor("council-canary"); ok {
		p.Probe, p.Missing = s.command(e)
	}
	return p
}

// comparePair runs both sides interleaved (after one warm-up each), so
// that noise on a shared machine falls on both alike.
func comparePair(ctx context.Context, e *env, n int, p pair) pairResult {
	r := pairResult{pair: p}
	if p.Missing == "" && len(p.Probe.Argv) == 0 {
		r.Missing = "not built"
	}
	sides := []struct {
		skip string
		c    command
		out  *[]sample
	}{{r.Missing, p.Probe, &r.Ours}, {p.NoBase, p.Shell, &r.BaseS}}
	calls := func() int {
		b, _ := os.ReadFile(p.CallLog)
		return bytes.Count(b, []byte("\n"))
	}
	for i := -1; i < n; i++ {
		if i == 0 && p.CallLog != "" {
			r.ManagerCalls = -calls()
		}
		for _, s := range sides {
			if s.skip != "" || r.Err != "" {
				continue
			}
			got, err := measure(ctx, s.c, runTimeout)
			if err == nil && got.Code != 0 {
				err = fmt.Errorf("%s exited %d against a healthy simulator", s.c.Argv[0], got.Code)
			}
			if err != nil {
				r.Err = err.Error()
				continue
			}
			if i >= 0 {
				*s.out = append(*s.out, got)
			}
		}
	}
	if p.CallLog != "" {
		r.ManagerCalls += calls()
	}
	return r
}

type rssResult struct {
	Binary string
	Bytes  int64
	Target int64 // the bar: rssTarget unless the tick has its own
	Code   int
	Note   string
	Err    string
}

// rssFloor is the launcher's own floor: /bin/true measured the same way.
func rssFloor(ctx context.Context, e *env) (int64, string) {
	if e.Launcher == "" {
		return 0, e.LauncherErr
	}
	t, err := exec.LookPath("true")
	if err != nil {
		return 0, "no true(1) to measure the floor"
	}
	var max int64
	for range 3 {
		rss, _, err := peakRSS(ctx, e.Launcher, command{Argv: []string{t}, Env: e.Env()}, runTimeout)
		if err != nil {
			return 0, err.Error()
		}
		max = maxInt(max, rss)
	}
	return max, ""
}

// measureRSS runs one tick of spec three times and keeps the highest peak.
func measureRSS(ctx context.Context, e *env, spec tickSpec) rssResult {
	r := rssResult{Binary: spec.Binary, Note: spec.Note, Target: spec.RSSTarget}
	if r.Target <= 0 {
		r.Target = rssTarget
	}
	c, missing := spec.command(e)
	if missing == "" && e.Launcher == "" {
		missing = e.LauncherErr
	}
	if missing != "" {
		r.Err = missing
		return r
	}
	for range 3 {
		rss, code, err := peakRSS(ctx, e.Launcher, c, runTimeout)
		if err != nil {
			r.Err = err.Error()
			return r
		}
		r.Bytes, r.Code = maxInt(r.Bytes, rss), code
	}
	return r
}

type sizeResult struct {
	Binary string
	Bytes  int64
}

// binarySizes lists the council-* binaries in dir, except the simulator
// (a test tool, not shipped to the council host).
func binarySizes(dir string) ([]sizeResult, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []sizeResult
	for _, de := range ents {
		name := de.Name()
		if !strings.HasPrefix(name, "council-") || name == "council-sim" || de.IsDir() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, sizeResult{Binary: name, Bytes: fi.Size()})
	}
	return out, nil
}

// launcherPkg is the tiny program that reads a child's peak RSS.
const launcherPkg = "github.com/sanctum/council-probes/integration/cmd/council-bench/launcher"

// goBuild builds pkg into out with the go command (make bench runs from the
// workspace, where go is at hand).
func goBuild(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v: %s", pkg, err, firstLine(string(b)))
	}
	return nil
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	if out, err := exec.Command("sysctl", "-n", "machdep.cpu.brand_string").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.GOARCH
}
