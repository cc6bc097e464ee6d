package pace

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// bin is the real council-pace binary, built once in TestMain, with the
// simulated systemd's commands.
var bin, systemctlBin, journalctlBin string

func TestMain(m *testing.M) {
	// The end-to-end cases spend their time waiting on the simulator's
	// pace, not on the CPU: run more of them at once.
	probetest.RunMain(m, probetest.Parallel(6),
		probetest.Binary{Out: &bin, Pkg: "github.com/sanctum/council-probes/probes/pace/cmd/council-pace", Name: "council-pace"},
		probetest.FakeSystemctl(&systemctlBin), probetest.FakeJournalctl(&journalctlBin))
}

// The simulator's usual pace in these tests. The degradations are 4x the
// TTFT and a third of the decode speed against factors of 2.5 and 0.5:
// margins wide enough that a loaded machine's scheduling jitter cannot
// turn a healthy sample into a degraded one or the reverse. Nothing here
// asserts a duration.
const (
	usualTTFT  = 200 * time.Millisecond
	usualDelay = 20 * time.Millisecond
	warmup     = 3
)

// runTimeout only catches a hung binary.
const runTimeout = 60 * time.Second

// fixture is one throwaway council host: a home with a 0600 token, the
// simulator at its usual pace writing its access log where the probe's
// busy scan reads the primary's log, and a Force Flow stand-in.
type fixture struct {
	home    *probetest.Home
	sim     *councilsim.Sim
	ff      *probetest.ForceFlow
	log     string // the simulator's access log = --primary-log
	metrics string
	args    []string
	env     []string // more environment (the simulated systemd's)
	outputs []string
	seen    int
}

func newFixture(t *testing.T, mutate func(*councilsim.Config)) *fixture {
	t.Helper()
	h := probetest.NewHome(t).WithToken(0o600)
	f := &fixture{home: h, ff: probetest.NewForceFlow(t), log: filepath.Join(h.Dir, "sanctum-mlx.log"), metrics: filepath.Join(h.Dir, "metrics")}
	logf, err := os.OpenFile(f.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	f.sim = h.Sim(func(c *councilsim.Config) {
		c.AccessLog = logf
		c.Pace = councilsim.Pace{TTFT: usualTTFT, TokenDelay: usualDelay}
		if mutate != nil {
			mutate(c)
		}
	})
	if err := os.MkdirAll(f.metrics, 0o755); err != nil {
		t.Fatal(err)
	}
	f.args = []string{
		"--url", f.sim.PlainURL(), "--force-flow-url", f.ff.URL(), "--metrics-dir", f.metrics,
		"--primary-log", f.log, "--warmup", fmt.Sprint(warmup), "--prompt-tokens", "96", "--decode-tokens", "12",
		"--deadline", "30s", "--stall-timeout", "5s",
	}
	return f
}

// ran is one run of the probe: its result and the events it logged.
type ran struct {
	probetest.Result
	events []map[string]any
}

func (f *fixture) run(t *testing.T, extra ...string) ran {
	t.Helper()
	res := probetest.Run(t, runTimeout, f.home.Env(f.env...), bin, append(append([]string(nil), f.args...), extra...)...)
	f.outputs = append(f.outputs, res.Stdout, res.Stderr)
	evs := probetest.Events(t, f.home.LogFile("pace"))
	fresh := evs[f.seen:]
	f.seen = len(evs)
	return ran{res, fresh}
}

// sample returns the tick's one pace_sample event.
func (tk ran) sample(t *testing.T) map[string]any {
	t.Helper()
	found := probetest.Find(tk.events, "pace_sample", "")
	if len(found) != 1 {
		t.Fatalf("want one pace_sample event, got %d in %v\nstderr: %s", len(found), tk.events, tk.Stderr)
	}
	return found[0]
}

// mustResult checks the sample's result and the exit code.
func (tk ran) mustResult(t *testing.T, result string, code int) map[string]any {
	t.Helper()
	ev := tk.sample(t)
	if ev["result"] != result || tk.Code != code {
		t.Fatalf("result %v exit %d, want %s exit %d\nevent: %v\nstdout: %s\nstderr: %s", ev["result"], tk.Code, result, code, ev, tk.Stdout, tk.Stderr)
	}
	return ev
}

// learn runs the warmup ticks.
func (f *fixture) learn(t *testing.T, extra ...string) {
	t.Helper()
	for i := 1; i <= warmup; i++ {
		ev := f.run(t, extra...).mustResult(t, resultLearning, 0)
		if ev["learned"] != float64(i) {
			t.Fatalf("warmup tick %d: learned %v", i, ev["learned"])
		}
	}
}

// baseline reads the baseline from the probe's state file.
func (f *fixture) baseline(t *testing.T) baseline {
	t.Helper()
	data, err := os.ReadFile(f.home.StateFile("pace"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Data map[string]baseline `json:"data"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st.Data[stateKey]
}

func (f *fixture) finalChecks(t *testing.T) {
	t.Helper()
	if leaks := probetest.Leaks(f.home.Dir, f.outputs...); len(leaks) > 0 {
		t.Errorf("the bearer token leaked into %v", leaks)
	}
}

func (f *fixture) setPace(t *testing.T, p councilsim.Pace) {
	t.Helper()
	f.sim.SetPace(p)
}

// TestLearningThenHealthy: the warmup only learns (exit 0, no alert), then
// a sample at the usual pace is judged ok, with every field, the perfdata,
// the textfile series and the human summary.
func TestLearningThenHealthy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.learn(t)
	tk := f.run(t)
	ev := tk.mustResult(t, resultOK, 0)
	for _, k := range []string{"model", "ttft_ms", "prefill_tps", "decode_tps", "prompt_tokens", "completion_tokens",
		"baseline_ttft_ms", "baseline_decode_tps", "ttft_ratio", "decode_ratio", "total_ms", "transport", "duration_ms"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("pace_sample lacks %s: %v", k, ev)
		}
	}
	if ev["completion_tokens"] != float64(12) || ev["model"] != councilsim.DefaultModel {
		t.Errorf("sample %v: want 12 completion tokens of %s", ev, councilsim.DefaultModel)
	}
	if _, counted := ev["tokens_counted"]; counted {
		t.Error("tokens_counted although the simulator sent a usage chunk")
	}
	if _, busy := ev["busy_requests"]; busy {
		t.Errorf("the probe's own request made the sample busy: %v", ev)
	}
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts on a healthy council: %+v", got)
	}
	if !strings.Contains(tk.Stdout, "COUNCIL PACE OK - TTFT ") || !strings.Contains(tk.Stdout, "x usual), decode ") ||
		!strings.Contains(tk.Stdout, "| duration_ms=") || !strings.Contains(tk.Stdout, " ttft_ms=") || !strings.Contains(tk.Stdout, " decode_ratio=") {
		t.Errorf("status line: %q", tk.Stdout)
	}
	prom, err := os.ReadFile(filepath.Join(f.metrics, "council_pace.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{metricTTFT, metricDecode, metricPrefill, metricTTFTBaseline, metricDecodeBaseline, metricTTFTRatio, metricDecodeRatio} {
		if !strings.Contains(string(prom), "# TYPE "+name+" gauge\n"+name+`{probe="pace",model="`+councilsim.DefaultModel+`"} `) {
			t.Errorf("textfile lacks %s for the model:\n%s", name, prom)
		}
	}
	if b := f.baseline(t); b.Learned != warmup+1 || len(b.TTFT) != warmup+1 || b.Model != councilsim.DefaultModel {
		t.Errorf("baseline %+v, want %d samples of %s", b, warmup+1, councilsim.DefaultModel)
	}
	f.finalChecks(t)
}

// TestDegraded: a 4x TTFT (or a third of the decode speed) is degraded at
// once (exit 1), alerts at warn on its own channel on the second tick only,
// is never learned, and the first sample at the usual pace sends exactly
// one recovery notice.
func TestDegraded(t *testing.T) {
	tests := []struct {
		name  string
		pace  councilsim.Pace
		check string
		other string
	}{
		{"ttft x4", councilsim.Pace{TTFT: 4 * usualTTFT, TokenDelay: usualDelay}, CheckTTFTDegraded, CheckDecodeDegraded},
		{"decode /3", councilsim.Pace{TTFT: usualTTFT, TokenDelay: 3 * usualDelay}, CheckDecodeDegraded, CheckTTFTDegraded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			f.learn(t)
			before := f.baseline(t)
			f.setPace(t, tt.pace)
			for i := 1; i <= 3; i++ {
				tk := f.run(t)
				tk.mustResult(t, resultDegraded, 1)
				ev := probetest.Find(tk.events, "pace_degraded", tt.check)
				if len(ev) != 1 || ev[0]["level"] != "warn" || ev[0]["consecutive"] != float64(i) {
					t.Fatalf("tick %d: pace_degraded events %v", i, ev)
				}
				if n := len(probetest.Find(tk.events, "pace_degraded", tt.other)); n != 0 {
					t.Errorf("tick %d: %s degraded too", i, tt.other)
				}
				// Hysteresis 2, cooldown 1 h: silent, alert, silent.
				want := map[int]int{1: 0, 2: 1, 3: 1}[i]
				if got := f.ff.AlertsFor(tt.check); len(got) != want {
					t.Fatalf("tick %d: %d alert(s), want %d: %+v", i, len(got), want, got)
				}
				if !strings.Contains(tk.Stdout, "COUNCIL PACE WARNING - "+tt.check+": ") {
					t.Errorf("status line %q", tk.Stdout)
				}
			}
			if a := f.ff.AlertsFor(tt.check)[0]; a.Severity != alert.Warn || a.Source != "council-pace" || a.Title != "council-pace: "+tt.check {
				t.Errorf("alert %+v", a)
			}
			if after := f.baseline(t); after.Learned != before.Learned || len(after.TTFT) != len(before.TTFT) {
				t.Errorf("degraded samples were learned: %+v, before %+v", after, before)
			}

			f.setPace(t, councilsim.Pace{TTFT: usualTTFT, TokenDelay: usualDelay})
			tk := f.run(t)
			tk.mustResult(t, resultOK, 0)
			if n := len(probetest.Find(tk.events, "recovered", tt.check)); n != 1 {
				t.Errorf("%d recovered events, want 1", n)
			}
			got := f.ff.AlertsFor(tt.check)
			if len(got) != 2 || got[1].Severity != alert.Info || !strings.HasSuffix(got[1].Title, "recovered") {
				t.Errorf("alerts %+v: want the alert, then one recovery", got)
			}
			if n := len(f.ff.AlertsFor(tt.other)); n != 0 {
				t.Errorf("%d alert(s) on %s", n, tt.other)
			}
			f.run(t).mustResult(t, resultOK, 0)
			if n := len(f.ff.AlertsFor(tt.check)); n != 2 {
				t.Errorf("%d alerts after a second healthy tick, want still 2", n)
			}
			f.finalChecks(t)
		})
	}
}

// TestBusyNeitherJudgedNorLearned: a sample during which the primary's log
// shows another request completed is measured and logged as busy, even
// when it is 4x slower: no channel moves, nothing is learned, exit 0.
func TestBusyNeitherJudgedNorLearned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.learn(t)
	before := f.baseline(t)
	f.setPace(t, councilsim.Pace{TTFT: 4 * usualTTFT, TokenDelay: usualDelay})

	// Another client's request completes while the probe waits for its
	// first token: the simulator writes that client's line to the
	// primary's log itself when the probe's chat request arrives, before
	// the first token, so no goroutine of the test can be starved past the
	// end of the sample.
	f.sim.SetOtherClients(1)
	tk := f.run(t)
	f.sim.SetOtherClients(0)
	ev := tk.mustResult(t, resultBusy, 0)
	if ev["busy_requests"] != float64(1) {
		t.Errorf("busy_requests %v, want 1 (the other client; the probe's own request is not counted)", ev["busy_requests"])
	}
	if r, _ := ev["ttft_ratio"].(float64); r <= defaultTTFTFactor {
		t.Errorf("ttft_ratio %v: the busy sample should still be measured against the baseline", ev["ttft_ratio"])
	}
	if n := len(probetest.Find(tk.events, "pace_degraded", "")); n != 0 {
		t.Errorf("a busy sample was judged: %v", tk.events)
	}
	if !strings.Contains(tk.Stdout, "COUNCIL PACE OK - busy (1 other request(s) during the sample), not judged") {
		t.Errorf("status line %q", tk.Stdout)
	}
	if after := f.baseline(t); after.Learned != before.Learned || len(after.TTFT) != len(before.TTFT) {
		t.Errorf("a busy sample was learned: %+v, before %+v", after, before)
	}
	// Not busy any more, still slow: judged, and its hysteresis starts at 1.
	tk = f.run(t)
	tk.mustResult(t, resultDegraded, 1)
	if ev := probetest.Find(tk.events, "pace_degraded", CheckTTFTDegraded); len(ev) != 1 || ev[0]["consecutive"] != float64(1) {
		t.Errorf("pace_degraded %v: want the first of the episode", ev)
	}
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts %+v", got)
	}
	f.finalChecks(t)
}

// TestIdentityChangeRelearns: the operator's --model is the baseline's
// key: another --model resets it (baseline_reset, info, no recovery); a
// new system_fingerprint from the server is logged (identity_changed) and
// the baseline is kept.
func TestIdentityChangeRelearns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *councilsim.Config) {
		c.Models = []string{"council-a", "council-b"}
		c.Pace.Fingerprint = "fp_1"
	})
	f.learn(t, "--model", "council-a")
	f.run(t, "--model", "council-a").mustResult(t, resultOK, 0)

	tk := f.run(t, "--model", "council-b")
	ev := tk.mustResult(t, resultLearning, 0)
	reset := probetest.Find(tk.events, "baseline_reset", "")
	if len(reset) != 1 || reset[0]["level"] != "info" || reset[0]["reason"] != "model" ||
		reset[0]["old_model"] != "council-a" || reset[0]["model"] != "council-b" {
		t.Fatalf("baseline_reset %v", reset)
	}
	if ev["learned"] != float64(1) || ev["model"] != "council-b" {
		t.Errorf("after the model change: %v", ev)
	}
	if b := f.baseline(t); b.Model != "council-b" || b.Learned != 1 {
		t.Errorf("baseline %+v", b)
	}

	f.sim.SetPace(councilsim.Pace{TTFT: usualTTFT, TokenDelay: usualDelay, Fingerprint: "fp_2"})
	tk = f.run(t, "--model", "council-b")
	if ev := tk.mustResult(t, resultLearning, 0); ev["learned"] != float64(2) {
		t.Errorf("a new fingerprint relearned the baseline: %v", ev)
	}
	if reset := probetest.Find(tk.events, "baseline_reset", ""); len(reset) != 0 {
		t.Fatalf("a fingerprint reset the baseline: %v", reset)
	}
	changed := probetest.Find(tk.events, "identity_changed", CheckIdentityUnstable)
	if len(changed) != 1 || changed[0]["field"] != "system_fingerprint" || changed[0]["from"] != "fp_1" || changed[0]["to"] != "fp_2" {
		t.Fatalf("identity_changed %v", changed)
	}
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts %+v", got)
	}
	f.finalChecks(t)
}

// TestPinnedBaseline: pinned baselines judge from the first sample, no
// warmup.
func TestPinnedBaseline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// Pins the server easily beats (a loaded test machine decodes the
	// simulator well below its nominal 50 tok/s): ok at once.
	ev := f.run(t, "--baseline-ttft", "2s", "--baseline-decode", "5").mustResult(t, resultOK, 0)
	if ev["baseline_ttft_ms"] != float64(2000) || ev["baseline_decode_tps"] != float64(5) || ev["learned"] != float64(1) {
		t.Errorf("bases %v %v learned %v, want the pinned values, the sample learned", ev["baseline_ttft_ms"], ev["baseline_decode_tps"], ev["learned"])
	}
	// A TTFT pinned ten times faster than the server: degraded on the
	// first sample.
	tk := f.run(t, "--baseline-ttft", (usualTTFT / 10).String(), "--baseline-decode", "5")
	tk.mustResult(t, resultDegraded, 1)
	if n := len(probetest.Find(tk.events, "pace_degraded", CheckTTFTDegraded)); n != 1 {
		t.Errorf("%d ttft_degraded events, want 1", n)
	}
	f.finalChecks(t)
}

// TestServerFailureIsSkipped: a server that is down, hangs or answers an
// error is not the pace probe's failure: exit 3, a skipped sample, no
// alert on its channels, nothing learned.
func TestServerFailureIsSkipped(t *testing.T) {
	tests := []struct {
		fault  councilsim.Fault
		reason string
	}{
		{councilsim.FaultDown, "unreachable"},
		{councilsim.FaultHang, "hang"},
		{councilsim.Fault500, "http_error"},
		{councilsim.FaultSSEStall, "stream_stall"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			f.learn(t)
			before := f.baseline(t)
			if err := f.sim.SetFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 2; i++ {
				tk := f.run(t, "--deadline", "2s", "--stall-timeout", "1s")
				ev := tk.mustResult(t, resultSkipped, 3)
				if ev["reason"] != tt.reason || ev["level"] != "warn" {
					t.Errorf("tick %d: skipped event %v, want reason %s", i, ev, tt.reason)
				}
				if !strings.Contains(tk.Stdout, "COUNCIL PACE UNKNOWN - skipped ("+tt.reason+")") {
					t.Errorf("status line %q", tk.Stdout)
				}
			}
			if got := f.ff.Alerts(); len(got) != 0 {
				t.Errorf("alerts %+v", got)
			}
			if after := f.baseline(t); after.Learned != before.Learned || len(after.TTFT) != len(before.TTFT) {
				t.Errorf("a skipped sample was learned: %+v, before %+v", after, before)
			}
			if err := f.sim.SetFault(councilsim.FaultNone); err != nil {
				t.Fatal(err)
			}
			f.run(t).mustResult(t, resultOK, 0)
			f.finalChecks(t)
		})
	}
}

// TestSlowDeclineEndToEnd: a server 5% slower every tick is caught within 3 ticks
// of crossing the TTFT factor measured against the baseline from before
// the decline began (the bases and samples are read from the events, so
// the judgement is the probe's own measurement).
func TestSlowDeclineEndToEnd(t *testing.T) {
	// Not parallel: it judges real time to first token, so it runs while
	// this package's other end-to-end tests wait, away from their load. A
	// longer usual TTFT than the other tests', so the process's own
	// overhead and a loaded machine's jitter are small against one 5% step.
	const base = 500 * time.Millisecond
	f := newFixture(t, func(c *councilsim.Config) { c.Pace.TTFT = base })
	f.args = append(f.args, "--decode-tokens", "4")
	f.learn(t)
	f.run(t).mustResult(t, resultOK, 0)
	var preBase float64
	crossed, caught := 0, 0
	for k := 1; k <= 40 && caught == 0; k++ {
		ttft := time.Duration(float64(base) * math.Pow(1.05, float64(k)))
		f.setPace(t, councilsim.Pace{TTFT: ttft, TokenDelay: usualDelay})
		ev := f.run(t).sample(t)
		if k == 1 {
			preBase, _ = ev["baseline_ttft_ms"].(float64)
		}
		if ms, _ := ev["ttft_ms"].(float64); crossed == 0 && ms > defaultTTFTFactor*preBase {
			crossed = k
		}
		if ev["result"] == resultDegraded {
			caught = k
		}
	}
	if preBase <= 0 || crossed == 0 || caught == 0 || caught >= crossed+3 {
		t.Fatalf("pre-decline baseline %g ms; crossed the factor at tick %d, caught at tick %d: want within 3 ticks", preBase, crossed, caught)
	}
	t.Logf("pre-decline baseline %g ms; crossed at tick %d, caught at tick %d", preBase, crossed, caught)
}

// TestBadFlags: a bad setting is UNKNOWN with a clear message, and no
// request is made.
func TestBadFlags(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--decode-factor", "1.5"}, "bad --decode-factor 1.5: want between 0 and 1"},
		{[]string{"--ttft-factor", "0.9"}, "bad --ttft-factor 0.9: want more than 1"},
		{[]string{"--severity", "info"}, `bad --severity "info"`},
		{[]string{"--decode-tokens", "1"}, "bad --decode-tokens 1"},
	}
	for _, tt := range tests {
		tk := f.run(t, tt.args...)
		if tk.Code != 3 || !strings.Contains(tk.Stdout, tt.want) {
			t.Errorf("%v: exit %d stdout %q, want 3 and %q", tt.args, tk.Code, tk.Stdout, tt.want)
		}
	}
	if n := f.sim.Requests(); n != 0 {
		t.Errorf("%d chat requests despite bad settings", n)
	}
}
