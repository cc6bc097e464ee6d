package canary

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// bin is the real council-canary binary, built once in TestMain, with the
// simulated systemd's commands.
var bin, systemctlBin, journalctlBin string

func TestMain(m *testing.M) {
	// The end-to-end cases spend their time waiting out ~1 s limits, not
	// on the CPU: run more of them at once.
	probetest.RunMain(m, probetest.Parallel(8),
		probetest.Binary{Out: &bin, Pkg: "github.com/sanctum/council-probes/probes/canary/cmd/council-canary", Name: "council-canary"},
		probetest.FakeSystemctl(&systemctlBin), probetest.FakeJournalctl(&journalctlBin))
}

// runTimeout only catches a hung binary; the limits under test are ~1 s.
const runTimeout = 30 * time.Second

// fixture is one throwaway council host: a home with a 0600 token (and
// certs for mTLS), the simulator, a Force Flow stand-in, and a launchctl
// that records any call, so "the canary never touches launchd" is checked.
type fixture struct {
	home      *probetest.Home
	sim       *councilsim.Sim
	ff        *probetest.ForceFlow
	launchctl string // log of launchctl calls; must never exist
	args      []string
	outputs   []string
	seen      int // events already returned
}

func newFixture(t *testing.T, mtls bool, extra ...string) *fixture {
	t.Helper()
	return newFixtureSim(t, mtls, nil, extra...)
}

// newFixtureSim is newFixture with the simulator's configuration changed
// by mutate.
func newFixtureSim(t *testing.T, mtls bool, mutate func(*councilsim.Config), extra ...string) *fixture {
	t.Helper()
	h := probetest.NewHome(t).WithToken(0o600)
	if mtls {
		h.WithCerts("canary")
	}
	f := &fixture{home: h, sim: h.Sim(mutate), ff: probetest.NewForceFlow(t)}
	f.launchctl = filepath.Join(h.Dir, "launchctl-calls.log")
	script := filepath.Join(h.Dir, "launchctl")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+f.launchctl+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.args = []string{
		"--url", f.sim.PlainURL(), "--force-flow-url", f.ff.URL(), "--service-manager", "launchd", "--launchctl", script,
		"--deadline", "3s", "--ttfb-timeout", "1s", "--stall-timeout", "1s",
	}
	if mtls {
		f.args = append(f.args, "--mtls-url", f.sim.MTLSURL())
	}
	f.args = append(f.args, extra...)
	return f
}

// run runs the canary once and returns its result and the events it logged.
func (f *fixture) run(t *testing.T, extra ...string) (probetest.Result, []map[string]any) {
	t.Helper()
	res := probetest.Run(t, runTimeout, f.home.Env(), bin, append(append([]string(nil), f.args...), extra...)...)
	f.outputs = append(f.outputs, res.Stdout, res.Stderr)
	evs := probetest.Events(t, f.home.LogFile("canary"))
	fresh := evs[f.seen:]
	f.seen = len(evs)
	return res, fresh
}

// one returns the single event named event in evs.
func one(t *testing.T, evs []map[string]any, event, check string) map[string]any {
	t.Helper()
	found := probetest.Find(evs, event, check)
	if len(found) != 1 {
		t.Fatalf("want exactly one %s event for check %q, got %d in %v", event, check, len(found), evs)
	}
	return found[0]
}

func (f *fixture) finalChecks(t *testing.T) {
	t.Helper()
	// Reading launchd (print: the primary's pid, to say busy or idle on a
	// hang) is allowed; anything else would be touching it.
	calls, _ := os.ReadFile(f.launchctl)
	for _, c := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		if c != "" && !strings.HasPrefix(c, "print gui/") {
			t.Errorf("the canary ran launchctl %s", c)
		}
	}
	if leaks := probetest.Leaks(f.home.Dir, f.outputs...); len(leaks) > 0 {
		t.Errorf("the bearer token leaked into %v", leaks)
	}
}

var transports = []struct {
	name string
	mtls bool
}{{"bearer", false}, {"mtls", true}}

// TestEveryFault drives the real binary against every fault the simulator
// injects, over bearer and over mTLS: each yields its check, exit 2 and a
// canary_fail event; the alert fires on the second consecutive miss only and
// not again inside the cooldown; the pass that follows sends exactly one
// info "recovered" alert.
func TestEveryFault(t *testing.T) {
	const model = "council-sim-27b"
	cases := []struct {
		name   string
		fault  councilsim.Fault
		slow   time.Duration
		args   []string // --stream, --model
		check  string
		detail string
	}{
		{"down", councilsim.FaultDown, 0, nil, CheckUnreachable, "connection refused"},
		{"hang", councilsim.FaultHang, 0, nil, CheckHang, "POST /v1/chat/completions: connected and sent the request, but no response header within 1s"},
		{"hang/stream", councilsim.FaultHang, 0, []string{"--stream"}, CheckHang, "no response header within 1s"},
		{"hang_all", councilsim.FaultHangAll, 0, nil, CheckHang, "GET /v1/models: connected"},
		{"slow first byte beyond the ttfb limit", councilsim.FaultSlow, 2 * time.Second, nil, CheckHang, "no response header within 1s"},
		{"slow first byte beyond the ttfb limit/stream", councilsim.FaultSlow, 2 * time.Second, []string{"--stream"}, CheckHang, "no response header within 1s"},
		{"500", councilsim.Fault500, 0, nil, CheckHTTPError, "GET /v1/models: HTTP 500: "},
		{"500/chat/stream", councilsim.Fault500, 0, []string{"--stream", "--model", model}, CheckHTTPError, "POST /v1/chat/completions: HTTP 500: "},
		{"wrong", councilsim.FaultWrong, 0, nil, CheckWrongAnswer, `answered "5"`},
		{"wrong/stream", councilsim.FaultWrong, 0, []string{"--stream"}, CheckWrongAnswer, `answered "5"`},
		{"fourteen", councilsim.FaultFourteen, 0, nil, CheckWrongAnswer, `answered "14"`},
		{"fourteen/stream", councilsim.FaultFourteen, 0, []string{"--stream"}, CheckWrongAnswer, `answered "14"`},
		{"empty", councilsim.FaultEmpty, 0, nil, CheckBadResponse, "200 with an empty body"},
		{"empty/chat/stream", councilsim.FaultEmpty, 0, []string{"--stream", "--model", model}, CheckBadResponse, "POST /v1/chat/completions: 200 with an empty body"},
		{"html", councilsim.FaultHTML, 0, nil, CheckBadResponse, "HTML page"},
		{"html/chat", councilsim.FaultHTML, 0, []string{"--model", model}, CheckBadResponse, "POST /v1/chat/completions: 200 with an HTML page"},
		{"sse_stall", councilsim.FaultSSEStall, 0, []string{"--stream"}, CheckStreamStall, "no event for 1s"},
		{"no_done", councilsim.FaultNoDone, 0, []string{"--stream"}, CheckBadResponse, "without data: [DONE]"},
		{"garbage", councilsim.FaultGarbage, 0, nil, CheckWrongAnswer, "answered"},
		{"garbage/stream", councilsim.FaultGarbage, 0, []string{"--stream"}, CheckWrongAnswer, "answered"},
	}
	for _, tr := range transports {
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, tr.mtls, tc.args...)
				if tc.slow > 0 {
					f.sim.SetSlowDelay(tc.slow)
				}
				if err := f.sim.SetFault(tc.fault); err != nil {
					t.Fatal(err)
				}

				for i := 1; i <= 3; i++ {
					res, evs := f.run(t)
					if res.Code != 2 {
						t.Fatalf("run %d: exit %d, want 2\nstdout: %s\nstderr: %s", i, res.Code, res.Stdout, res.Stderr)
					}
					ev := one(t, evs, "canary_fail", tc.check)
					if ev["level"] != "error" || ev["transport"] != tr.name || ev["consecutive"] != float64(i) {
						t.Errorf("run %d: event %v: want level error, transport %s, consecutive %d", i, ev, tr.name, i)
					}
					if d, _ := ev["detail"].(string); !strings.Contains(d, tc.detail) {
						t.Errorf("run %d: detail %q, want it to contain %q", i, d, tc.detail)
					}
					for _, k := range []string{"latency_ms", "mode", "duration_ms"} {
						if _, ok := ev[k]; !ok {
							t.Errorf("run %d: event lacks %s: %v", i, k, ev)
						}
					}
					if tc.check == CheckWrongAnswer {
						for _, k := range []string{"model", "answer", "answer_sha256", "finish_reason", "prompt_tokens", "completion_tokens", "http_status"} {
							if _, ok := ev[k]; !ok {
								t.Errorf("run %d: wrong_answer event lacks %s: %v", i, k, ev)
							}
						}
					}
					if want := "COUNCIL CANARY CRITICAL - " + tc.check + ": "; !strings.Contains(res.Stdout, want) {
						t.Errorf("run %d: stdout %q lacks the status line %q", i, res.Stdout, want)
					}
					// Hysteresis 2, cooldown 30 min: silent, alert, silent.
					want := map[int]int{1: 0, 2: 1, 3: 1}[i]
					if got := f.ff.AlertsFor(tc.check); len(got) != want {
						t.Fatalf("after run %d: %d alert(s) for %s, want %d: %+v", i, len(got), tc.check, want, got)
					}
				}
				if a := f.ff.AlertsFor(tc.check)[0]; a.Severity != "error" || a.Source != "council-canary" || a.Title != "council-canary: "+tc.check {
					t.Errorf("alert = %+v, want error from council-canary titled by the check", a)
				}

				if err := f.sim.SetFault(councilsim.FaultNone); err != nil {
					t.Fatal(err)
				}
				res, evs := f.run(t)
				if res.Code != 0 {
					t.Fatalf("recovery run: exit %d, want 0\nstdout: %s", res.Code, res.Stdout)
				}
				ok := one(t, evs, "canary_ok", CheckWrongAnswer)
				if ok["answer"] != "4" || ok["transport"] != tr.name {
					t.Errorf("canary_ok = %v", ok)
				}
				one(t, evs, "recovered", tc.check)
				all := f.ff.Alerts()
				if len(all) != 2 {
					t.Fatalf("want the error alert and one recovery, got %d: %+v", len(all), all)
				}
				if r := all[1]; r.Severity != "info" || r.Title != "council-canary: "+tc.check+" recovered" {
					t.Errorf("recovery alert = %+v", r)
				}
				f.finalChecks(t)
			})
		}
	}
}

// TestHealthy checks the passing event's fields over both transports and
// both modes, and that a first byte late but inside the limit passes.
func TestHealthy(t *testing.T) {
	for _, tr := range transports {
		for _, stream := range []bool{false, true} {
			t.Run(tr.name+"/"+mode(stream), func(t *testing.T) {
				t.Parallel()
				var extra []string
				if stream {
					extra = []string{"--stream"}
				}
				f := newFixture(t, tr.mtls, extra...)
				f.sim.SetSlowDelay(100 * time.Millisecond)
				f.sim.SetFault(councilsim.FaultSlow)
				res, evs := f.run(t)
				if res.Code != 0 {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", res.Code, res.Stdout, res.Stderr)
				}
				ev := one(t, evs, "canary_ok", CheckWrongAnswer)
				want := map[string]any{
					"level": "info", "probe": "canary", "transport": tr.name, "model": "council-sim-27b", "answer": "4",
					"answer_sha256": sha256Hex("4"), "finish_reason": "stop", "http_status": float64(200), "mode": mode(stream),
					"completion_tokens": float64(1),
				}
				for k, v := range want {
					if ev[k] != v {
						t.Errorf("%s = %v, want %v (event %v)", k, ev[k], v, ev)
					}
				}
				for _, k := range []string{"latency_ms", "prompt_tokens", "ttfb_ms", "ts", "duration_ms"} {
					if _, ok := ev[k]; !ok {
						t.Errorf("canary_ok lacks %s: %v", k, ev)
					}
				}
				if _, ok := ev["ttft_ms"]; ok != stream {
					t.Errorf("ttft_ms present = %v, want %v", ok, stream)
				}
				if !strings.Contains(res.Stdout, "COUNCIL CANARY OK - council-sim-27b answered \"4\"") || !strings.Contains(res.Stdout, "latency_ms=") {
					t.Errorf("status line: %q", res.Stdout)
				}
				if stream && !strings.Contains(res.Stdout, "ttft_ms=") {
					t.Errorf("stream status line lacks ttft_ms perfdata: %q", res.Stdout)
				}
				if a := f.ff.Alerts(); len(a) != 0 {
					t.Errorf("a healthy run alerted: %+v", a)
				}
				f.finalChecks(t)
			})
		}
	}
}

// TestMTLSThenBearer: a healthy run over mTLS logs transport mtls; removing
// the cert files makes the next run, with nothing else changed, log bearer.
func TestMTLSThenBearer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	res, evs := f.run(t)
	if res.Code != 0 || one(t, evs, "canary_ok", CheckWrongAnswer)["transport"] != "mtls" {
		t.Fatalf("first run: exit %d, events %v", res.Code, evs)
	}
	before := f.sim.Requests()
	f.home.RemoveCerts()
	res, evs = f.run(t)
	if res.Code != 0 || one(t, evs, "canary_ok", CheckWrongAnswer)["transport"] != "bearer" {
		t.Fatalf("after removing the certs: exit %d, events %v", res.Code, evs)
	}
	if f.sim.Requests() != before+1 {
		t.Errorf("the bearer run made %d chat request(s), want 1", f.sim.Requests()-before)
	}
	if a := f.ff.Alerts(); len(a) != 0 {
		t.Errorf("switching transport alerted: %+v", a)
	}
	f.finalChecks(t)
}

// TestStagesShareOneRequest: a failure at an earlier stage says nothing about
// a later one, so a firing wrong_answer stays open through a hang; a failure
// at a later stage shows the earlier ones pass, so a firing unreachable
// recovers when the server answers wrongly.
func TestStagesShareOneRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	step := func(fault councilsim.Fault, wantCode int) []map[string]any {
		t.Helper()
		if err := f.sim.SetFault(fault); err != nil {
			t.Fatal(err)
		}
		res, evs := f.run(t)
		if res.Code != wantCode {
			t.Fatalf("%s: exit %d, want %d\n%s", fault, res.Code, wantCode, res.Stdout)
		}
		return evs
	}
	step(councilsim.FaultWrong, 2)
	step(councilsim.FaultWrong, 2) // wrong_answer alerts
	evs := step(councilsim.FaultHang, 2)
	if r := probetest.Find(evs, "recovered", ""); len(r) != 0 {
		t.Fatalf("a hang closed a channel it says nothing about: %v", r)
	}
	step(councilsim.FaultDown, 2)
	step(councilsim.FaultDown, 2) // unreachable alerts
	evs = step(councilsim.FaultWrong, 2)
	one(t, evs, "recovered", CheckUnreachable)
	if r := probetest.Find(evs, "recovered", CheckHang); len(r) != 0 {
		t.Fatalf("hang never alerted, so it must close silently: %v", r)
	}
	// wrong_answer kept firing across the hang and the outage: still inside
	// its cooldown, so no second alert.
	if got := f.ff.AlertsFor(CheckWrongAnswer); len(got) != 1 {
		t.Fatalf("wrong_answer alerts = %+v, want 1", got)
	}
	evs = step(councilsim.FaultNone, 0)
	one(t, evs, "recovered", CheckWrongAnswer)
	var titles []string
	for _, a := range f.ff.Alerts() {
		titles = append(titles, string(a.Severity)+" "+a.Title)
	}
	want := []string{
		"error council-canary: wrong_answer",
		"error council-canary: unreachable",
		"info council-canary: unreachable recovered",
		"info council-canary: wrong_answer recovered",
	}
	if strings.Join(titles, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(titles, "\n"), strings.Join(want, "\n"))
	}
	f.finalChecks(t)
}

// TestBadSettingsAreUnknown: a setting the canary cannot work with is exit 3
// with a message naming it, and nothing is asked or alerted.
func TestBadSettingsAreUnknown(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"expect not a regexp", []string{"--expect", "(4"}, "bad --expect"},
		{"zero deadline", []string{"--deadline", "0s"}, "bad --deadline"},
		{"negative ttfb", []string{"--ttfb-timeout", "-1s"}, "bad --ttfb-timeout"},
		{"zero max tokens", []string{"--max-tokens", "0"}, "bad --max-tokens"},
		{"empty prompt", []string{"--prompt", " "}, "bad --prompt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			res, evs := f.run(t, tc.args...)
			if res.Code != 3 {
				t.Fatalf("exit %d, want 3\n%s", res.Code, res.Stdout)
			}
			if !strings.Contains(res.Stdout, tc.want) {
				t.Errorf("stdout %q does not name %q", res.Stdout, tc.want)
			}
			if len(probetest.Find(evs, "canary_fail", "")) != 0 || f.sim.Requests() != 0 {
				t.Errorf("a misconfigured canary still asked the council")
			}
		})
	}
}

// TestEnvironmentSettings: the canary's own settings come from the
// environment too (here a prompt and pattern the simulator is scripted for).
func TestEnvironmentSettings(t *testing.T) {
	t.Parallel()
	h := probetest.NewHome(t).WithToken(0o600)
	sim := h.Sim(func(c *councilsim.Config) { c.Answers = map[string]string{"capital of France": "Paris."} })
	res := probetest.Run(t, runTimeout, h.Env("COUNCIL_URL="+sim.PlainURL(), "FORCE_FLOW_URL=",
		"COUNCIL_CANARY_PROMPT=What is the capital of France?", "COUNCIL_CANARY_EXPECT=(?i)\\bparis\\b", "COUNCIL_CANARY_STREAM=true"), bin)
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	ev := one(t, probetest.Events(t, h.LogFile("canary")), "canary_ok", CheckWrongAnswer)
	if ev["answer"] != "Paris." || ev["mode"] != "stream" {
		t.Errorf("event = %v", ev)
	}
}
