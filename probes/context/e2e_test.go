package ctxwindow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// bin is the real council-context binary, built once in TestMain.
var bin string

func TestMain(m *testing.M) {
	probetest.RunMain(m, probetest.Parallel(4),
		probetest.Binary{Out: &bin, Pkg: "github.com/sanctum/council-probes/probes/context/cmd/council-context", Name: "council-context"})
}

// runTimeout only catches a hung binary.
const runTimeout = 60 * time.Second

// window is the simulator's context window in these tests: small, so a
// needle is a few hundred words.
const window = 500

// fixture is one throwaway council host: a home with a 0600 token, the
// simulator writing its log (access lines and its own warnings) where the
// probe reads the server's log, and a Force Flow stand-in. The server log
// is outside the home, so Leaks can check every file the probe wrote.
type fixture struct {
	home    *probetest.Home
	sim     *councilsim.Sim
	ff      *probetest.ForceFlow
	log     string
	metrics string
	args    []string
	outputs []string
	seen    int
}

func newFixture(t *testing.T, p councilsim.Personality, mutate func(*councilsim.Config)) *fixture {
	t.Helper()
	h := probetest.NewHome(t).WithToken(0o600)
	f := &fixture{home: h, ff: probetest.NewForceFlow(t), log: filepath.Join(t.TempDir(), "server.log"), metrics: filepath.Join(h.Dir, "metrics")}
	logf, err := os.OpenFile(f.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	f.sim = h.Sim(func(c *councilsim.Config) {
		c.AccessLog = logf
		c.ContextWindow = window
		c.Personality.Personality = p
		if mutate != nil {
			mutate(c)
		}
	})
	if err := os.MkdirAll(f.metrics, 0o755); err != nil {
		t.Fatal(err)
	}
	f.args = []string{"--url", f.sim.PlainURL(), "--force-flow-url", f.ff.URL(), "--metrics-dir", f.metrics,
		"--server-log", f.log, "--deadline", "30s"}
	return f
}

// ran is one run of the probe: its result and the events it logged.
type ran struct {
	probetest.Result
	events []map[string]any
}

func (f *fixture) run(t *testing.T, extra ...string) ran {
	t.Helper()
	res := probetest.Run(t, runTimeout, f.home.Env(), bin, append(append([]string(nil), f.args...), extra...)...)
	f.outputs = append(f.outputs, res.Stdout, res.Stderr)
	evs := probetest.Events(t, f.home.LogFile("context"))
	fresh := evs[f.seen:]
	f.seen = len(evs)
	return ran{res, fresh}
}

// one returns the tick's one event named event.
func (tk ran) one(t *testing.T, event, check string) map[string]any {
	t.Helper()
	found := probetest.Find(tk.events, event, check)
	if len(found) != 1 {
		t.Fatalf("want one %s event (check %q), got %d in\n%s\nstdout: %s\nstderr: %s", event, check, len(found), dump(tk.events), tk.Stdout, tk.Stderr)
	}
	return found[0]
}

func (tk ran) none(t *testing.T, event, check string) {
	t.Helper()
	if found := probetest.Find(tk.events, event, check); len(found) != 0 {
		t.Errorf("unexpected %s events: %v", event, found)
	}
}

func (tk ran) exit(t *testing.T, code int) {
	t.Helper()
	if tk.Code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s\nevents:\n%s", tk.Code, code, tk.Stdout, tk.Stderr, dump(tk.events))
	}
}

func dump(evs []map[string]any) string {
	var b strings.Builder
	for _, e := range evs {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func (f *fixture) finalChecks(t *testing.T) {
	t.Helper()
	if leaks := probetest.Leaks(f.home.Dir, f.outputs...); len(leaks) > 0 {
		t.Errorf("the bearer token leaked into %v", leaks)
	}
}

// otherClient sends a chat of words words to the simulator, as another
// client of the council would.
func (f *fixture) otherClient(t *testing.T, words int) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": strings.TrimSpace(strings.Repeat("word ", words))}}})
	req, _ := http.NewRequest(http.MethodPost, f.sim.PlainURL()+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+probetest.PlantedToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// TestHealthyEachServer: on each server that reports its window, the
// window is read from it, the needle of 0.8 of it is counted whole, the
// first tick learns the log position and the second judges it; no alert.
func TestHealthyEachServer(t *testing.T) {
	for _, tc := range []struct {
		p   councilsim.Personality
		how string
	}{
		{councilsim.PersonalityOllama, "Ollama /api/ps context_length"},
		{councilsim.PersonalityLlamaServer, "llama-server /props n_ctx"},
		{councilsim.PersonalityVLLM, "vLLM /v1/models max_model_len"},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.p, nil)
			tk := f.run(t)
			tk.exit(t, 0)
			w := tk.one(t, "context_window", "")
			if w["reported_context"] != float64(window) || w["window"] != float64(window) || w["reported_by"] != tc.how {
				t.Errorf("context_window %v: want %d from %s", w, window, tc.how)
			}
			n := tk.one(t, "context_needle", "")
			if n["words"] != float64(window*8/10) || n["prompt_tokens"] != float64(window*8/10) || n["needle_first"] != true || n["needle_last"] != true {
				t.Errorf("context_needle %v: want %d words counted whole, both codes back", n, window*8/10)
			}
			tk.one(t, "context_whole", CheckTruncated)
			if l := tk.one(t, "context_log", ""); l["first"] != true {
				t.Errorf("first tick: context_log %v, want the position learned", l)
			}
			tk.none(t, "context_no_pressure", CheckPressure)
			if !strings.Contains(tk.Stdout, "COUNCIL CONTEXT OK - window 500 tokens (server); needle of 400 words read whole (400 prompt tokens, 2/2 codes back); server log position learned") {
				t.Errorf("status line %q", tk.Stdout)
			}

			tk = f.run(t)
			tk.exit(t, 0)
			tk.one(t, "context_no_pressure", CheckPressure)
			if !strings.Contains(tk.Stdout, "; no input lost in the server's log since ") || !strings.Contains(tk.Stdout, " pressure=0;;;0") {
				t.Errorf("status line %q", tk.Stdout)
			}
			prom, err := os.ReadFile(filepath.Join(f.metrics, "council_context.prom"))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{metricWindow + `{probe="context",model="` + councilsim.DefaultModel + `"} 500`,
				metricPromptTokens + `{probe="context",model="` + councilsim.DefaultModel + `"} 400`, metricPressure + `{probe="context"} 0`} {
				if !strings.Contains(string(prom), s) {
					t.Errorf("textfile lacks %s:\n%s", s, prom)
				}
			}
			if a := f.ff.Alerts(); len(a) != 0 {
				t.Errorf("alerts on a healthy council: %+v", a)
			}
			f.finalChecks(t)
		})
	}
}

// TestSilentTruncation is the reported failure: the server's window (500)
// is smaller than the one expected (1000); the needle (800 words) is cut
// silently, answered 200 with prompt_tokens at the window, and only the
// server's log says so. context_smaller warns, context_truncated is an
// error (exit 2), both alert at once, and the truncation line is the
// needle's own, not pressure.
func TestSilentTruncation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, councilsim.PersonalityOllama, func(c *councilsim.Config) { c.Fault = councilsim.FaultTruncate })
	f.run(t, "--expect-context", "1000").exit(t, 2) // learns the log position
	tk := f.run(t, "--expect-context", "1000", "--check-needle")
	tk.exit(t, 2)
	sm := tk.one(t, CheckSmaller, CheckSmaller)
	if sm["level"] != "warn" || !strings.Contains(sm["detail"].(string), "context window of 500 tokens (Ollama /api/ps context_length), smaller than the 1000 tokens expected") {
		t.Errorf("context_smaller %v", sm)
	}
	tr := tk.one(t, CheckTruncated, CheckTruncated)
	d := tr["detail"].(string)
	for _, want := range []string{"dropped part of a 800-word prompt (80% of a 1000-token window) and answered 200",
		"the server counted 500 prompt tokens for a prompt of at least 800",
		"its log says it truncated a prompt of 800 tokens to 500 tokens",
		"the answer lacks the code at the start"} {
		if !strings.Contains(d, want) {
			t.Errorf("context_truncated detail %q lacks %q", d, want)
		}
	}
	if tr["level"] != "error" || tr["needle_first"] != false || tr["needle_last"] != true || !strings.Contains(tr["log_line"].(string), `msg="truncating input prompt" limit=500 prompt=800`) {
		t.Errorf("context_truncated %v", tr)
	}
	tk.one(t, "context_no_pressure", CheckPressure)
	for _, ch := range []string{CheckSmaller, CheckTruncated} {
		if a := f.ff.AlertsFor(ch); len(a) != 1 {
			t.Errorf("%s: %d alerts over 2 ticks, want 1 (threshold 1, cooldown): %+v", ch, len(a), f.ff.Alerts())
		}
	}
	if a := f.ff.AlertsFor(CheckTruncated); len(a) == 1 && a[0].Severity != alert.Error {
		t.Errorf("truncation alert %+v: want error", a[0])
	}
	if !strings.Contains(tk.Stdout, "COUNCIL CONTEXT CRITICAL - context_smaller: ") {
		t.Errorf("status line %q", tk.Stdout)
	}

	// The operator gives the server a bigger window: both recover.
	f.sim.SetContextWindow(1000)
	tk = f.run(t, "--expect-context", "1000", "--check-needle")
	tk.exit(t, 0)
	for _, ch := range []string{CheckSmaller, CheckTruncated} {
		tk.one(t, "recovered", ch)
	}
	f.finalChecks(t)
}

// TestTruncationTheServerDoesNotReport: a generic server says nothing
// about its window; with --expect-context the needle is sized for it and
// the truncation is still caught, from usage alone (the log is not
// configured). context_smaller is not judged.
func TestTruncationTheServerDoesNotReport(t *testing.T) {
	t.Parallel()
	f := newFixture(t, councilsim.PersonalityGeneric, func(c *councilsim.Config) { c.Fault = councilsim.FaultTruncate })
	tk := f.run(t, "--expect-context", "1000", "--server-log", "")
	tk.exit(t, 2)
	tk.one(t, CheckTruncated, CheckTruncated)
	tk.none(t, CheckSmaller, CheckSmaller)
	tk.one(t, "context_smaller_not_judged", "")
	if l := tk.one(t, "context_log", ""); l["read"] != false {
		t.Errorf("context_log %v", l)
	}
	if !strings.Contains(tk.Stdout, "COUNCIL CONTEXT CRITICAL - context_truncated: ") {
		t.Errorf("status line %q", tk.Stdout)
	}
}

// TestRefusedAsTooLong: an honest server (llama-server's 400) refuses a
// needle sized for the window expected: context_smaller, with the
// server's words; nothing is truncated.
func TestRefusedAsTooLong(t *testing.T) {
	t.Parallel()
	f := newFixture(t, councilsim.PersonalityGeneric, nil)
	tk := f.run(t, "--expect-context", "1000")
	tk.exit(t, 1)
	sm := tk.one(t, CheckSmaller, CheckSmaller)
	if d := sm["detail"].(string); !strings.Contains(d, "refused a prompt of 800 words, 80% of the 1000-token window expected (--expect-context), as longer than its window") ||
		!strings.Contains(d, "request (800 tokens) exceeds the available context size (500 tokens)") {
		t.Errorf("context_smaller %v", sm)
	}
	tk.none(t, CheckTruncated, CheckTruncated)
	if a := f.ff.AlertsFor(CheckSmaller); len(a) != 1 || a[0].Severity != alert.Warn {
		t.Errorf("alerts %+v", f.ff.Alerts())
	}
}

// TestUnknownWindow: a server that cannot say its window, and no
// --expect-context: said (context_unknown, UNKNOWN), no needle, no alert.
func TestUnknownWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, councilsim.PersonalityMLX, nil)
	before := f.sim.Requests()
	tk := f.run(t, "--backend", "mlx")
	tk.exit(t, 3)
	u := tk.one(t, "context_unknown", "")
	if !strings.Contains(u["detail"].(string), "the mlx backend has no way to say its window") {
		t.Errorf("context_unknown %v", u)
	}
	tk.none(t, "context_needle", "")
	if n := f.sim.Requests() - before; n != 0 {
		t.Errorf("%d chat request(s) sent without a window to size them", n)
	}
	if !strings.Contains(tk.Stdout, "COUNCIL CONTEXT UNKNOWN - context window unknown: ") {
		t.Errorf("status line %q", tk.Stdout)
	}
	if a := f.ff.Alerts(); len(a) != 0 {
		t.Errorf("alerts %+v", a)
	}
}

// TestPressure: other clients' truncated prompts and context shifts since
// the last tick are context_pressure (warn), with the count and the first
// line; a quiet night recovers it. Lines written before the first tick are
// not counted.
func TestPressure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, councilsim.PersonalityOllama, nil)
	f.sim.SetFault(councilsim.FaultTruncate)
	f.otherClient(t, 900) // before the first tick: history, not counted
	f.sim.SetFault(councilsim.FaultNone)
	f.run(t).exit(t, 0)

	f.sim.SetFault(councilsim.FaultTruncate)
	f.otherClient(t, 900)
	f.otherClient(t, 700)
	f.sim.SetFault(councilsim.FaultContextShift)
	f.otherClient(t, 10)
	f.sim.SetFault(councilsim.FaultNone)
	f.otherClient(t, 600) // refused (400): lost too
	tk := f.run(t)
	tk.exit(t, 1)
	p := tk.one(t, CheckPressure, CheckPressure)
	// A prompt cut to the whole window shifts as soon as it answers: each
	// truncation comes with a shift, as on Ollama.
	if p["count"] != float64(6) || p["level"] != "warn" ||
		!strings.Contains(p["detail"].(string), "the server's log shows 2 prompts truncated, 1 request refused as too long, 3 context shifts since ") ||
		!strings.Contains(p["detail"].(string), `first: time=`) || !strings.Contains(p["detail"].(string), `limit=500 prompt=900`) {
		t.Errorf("context_pressure %v", p)
	}
	tk.one(t, "context_whole", CheckTruncated)
	if a := f.ff.AlertsFor(CheckPressure); len(a) != 1 || a[0].Severity != alert.Warn {
		t.Errorf("pressure alerts %+v", f.ff.Alerts())
	}
	if !strings.Contains(tk.Stdout, "COUNCIL CONTEXT WARNING - context_pressure: ") || !strings.Contains(tk.Stdout, "pressure=6;;;0") {
		t.Errorf("status line %q", tk.Stdout)
	}

	tk = f.run(t)
	tk.exit(t, 0)
	tk.one(t, "recovered", CheckPressure)
	f.finalChecks(t)
}

// TestHostileLogLine: a line in the server's log carrying escapes and the
// bearer token reaches the alert sanitised and redacted.
func TestHostileLogLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, councilsim.PersonalityOllama, nil)
	f.run(t).exit(t, 0)
	lf, err := os.OpenFile(f.log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lf, "\x1b]0;owned\x07slot update_slots: id  0 | task 9 | slot context shift, Authorization: Bearer %s \u202Eevil\n", probetest.PlantedToken)
	lf.Close()
	tk := f.run(t)
	tk.exit(t, 1)
	a := f.ff.AlertsFor(CheckPressure)
	if len(a) != 1 || strings.ContainsAny(a[0].Message, "\x1b\x07\u202E") || !strings.Contains(a[0].Message, "slot context shift") {
		t.Errorf("alerts %+v", a)
	}
	f.finalChecks(t)
}

// TestSkipped: a server that is down or answers an error is the
// guardian's and canary's business: skipped, UNKNOWN, no alert; a refused
// token is our fault: auth, alerted at once.
func TestSkipped(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, councilsim.PersonalityGeneric, func(c *councilsim.Config) { c.Fault = councilsim.FaultDown })
		tk := f.run(t)
		tk.exit(t, 3)
		if s := tk.one(t, "context_skipped", ""); s["reason"] != "unreachable" {
			t.Errorf("context_skipped %v", s)
		}
		if a := f.ff.Alerts(); len(a) != 0 {
			t.Errorf("alerts %+v", a)
		}
	})
	t.Run("500 on the needle", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, councilsim.PersonalityGeneric, nil)
		f.run(t, "--expect-context", "400").exit(t, 0)
		f.sim.SetFault(councilsim.Fault500)
		tk := f.run(t, "--expect-context", "400")
		tk.exit(t, 3)
		tk.one(t, "context_skipped", "")
		tk.one(t, "context_no_pressure", CheckPressure) // the log is read all the same
		if a := f.ff.Alerts(); len(a) != 0 {
			t.Errorf("alerts %+v", a)
		}
	})
	t.Run("auth", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, councilsim.PersonalityGeneric, func(c *councilsim.Config) { c.Token = "another-token" })
		tk := f.run(t, "--expect-context", "400")
		tk.exit(t, 3)
		tk.one(t, "auth_refused", CheckAuth)
		if a := f.ff.AlertsFor(CheckAuth); len(a) != 1 {
			t.Errorf("auth alerts %+v", f.ff.Alerts())
		}
		f.finalChecks(t)
	})
}

// TestCheckNeedle: with --check-needle a model that does not repeat the
// codes fails context_truncated; without it the codes are only reported.
func TestCheckNeedle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, councilsim.PersonalityOllama, func(c *councilsim.Config) { c.Fault = councilsim.FaultWrong })
	tk := f.run(t)
	tk.exit(t, 0)
	if n := tk.one(t, "context_needle", ""); n["needle_first"] != false || n["needle_last"] != false || n["check_needle"] != false {
		t.Errorf("context_needle %v", n)
	}
	tk = f.run(t, "--check-needle")
	tk.exit(t, 2)
	if tr := tk.one(t, CheckTruncated, CheckTruncated); !strings.Contains(tr["detail"].(string), "the answer repeats neither code") {
		t.Errorf("context_truncated %v", tr)
	}
}

// TestConfigErrors: a bad setting is UNKNOWN on the config channel.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, councilsim.PersonalityOllama, nil)
	for _, args := range [][]string{{"--context-fill", "0"}, {"--context-fill", "1.5"}, {"--expect-context", "-1"}, {"--max-prompt-words", "10"}} {
		tk := f.run(t, args...)
		tk.exit(t, 3)
		tk.one(t, "config_error", CheckConfig)
	}
}
