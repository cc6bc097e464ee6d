package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// The pace column: council-pace judges speed, not availability. A server
// that is down, hangs, is slow to its first byte (past the deadline) or
// answers an error is the guardian's and canary's business: the sample is
// skipped (exit 3), nothing is learned and pace's own channels do not
// alert. Its alert path is exercised with a pinned TTFT baseline the
// simulator's pace exceeds 20 times.

var paceRig = probeRig{
	name: "pace", binary: "council-pace", cmdDir: "probes/pace/cmd/council-pace", network: true,
	prepare: func(w *world) []string {
		return []string{"--deadline", "3s", "--stall-timeout", "2s", "--prompt-tokens", "64", "--decode-tokens", "8"}
	},
}

// skippedSample is a sample pace leaves to the other probes.
func skippedSample(reason string) want {
	return want{code: 3, event: "pace_sample", alert: noAlert,
		then: func(t *testing.T, w *world) {
			evs := probetest.Find(w.events(), "pace_sample", "")
			if len(evs) == 0 || evs[len(evs)-1]["result"] != "skipped" || evs[len(evs)-1]["reason"] != reason {
				t.Errorf("want a skipped sample (%s):\n%s", reason, dumpEvents(w.events()))
			}
		}}
}

// paceDegraded pins the TTFT baseline at 20 ms and slows the simulator's
// first token to 400 ms: ttft_degraded, exit 1, alert on the second tick.
var paceDegraded = trigger{
	sim:   func(c *councilsim.Config) { c.Pace = councilsim.Pace{TTFT: 400 * time.Millisecond} },
	setup: func(t *testing.T, w *world) { w.args = append(w.args, "--baseline-ttft", "20ms") },
	ticks: 2, code: 1, event: "pace_degraded", check: "ttft_degraded",
	heal: func(t *testing.T, w *world) { w.sim.SetPace(councilsim.Pace{}) },
}

func paceCells() []cell {
	learning := want{code: 0, event: "pace_sample",
		then: func(t *testing.T, w *world) {
			evs := probetest.Find(w.events(), "pace_sample", "")
			if len(evs) != 1 || evs[0]["result"] != "learning" {
				t.Errorf("want one learning sample:\n%s", dumpEvents(w.events()))
			}
		}}
	cells := commonCells("pace_sample", "")
	cells[0].want = learning
	cells = append(cells,
		cell{fault: fDown, sim: fault(councilsim.FaultDown), ticks: 2, want: skippedSample("unreachable"),
			note: "skipped: down is the guardian's and canary's business; pace never alerts on it"},
		cell{fault: fHang, sim: fault(councilsim.FaultHang), want: skippedSample("hang")},
		cell{fault: fHangAll, sim: fault(councilsim.FaultHangAll), want: skippedSample("hang")},
		cell{fault: fSlow, sim: slow, want: skippedSample("hang")},
		cell{fault: f500, sim: fault(councilsim.Fault500), want: skippedSample("http_error")},
		cell{fault: fHTML, sim: fault(councilsim.FaultHTML), want: skippedSample("bad_response")},
		cell{fault: fSSEStall, sim: fault(councilsim.FaultSSEStall), want: skippedSample("stream_stall")},
		cell{fault: fWrong, sim: fault(councilsim.FaultWrong),
			want: want{code: 1, event: "pace_degenerate", check: "degenerate", alert: delivered},
			note: "\"5\" to the request to count is no count: degenerate at once (the \"2+2\" is the canary's)"},
	)
	cells = append(cells, alertCells(paceDegraded)...)
	for _, c := range networkCells("pace", trigger{}, "--deadline", "30s", "--stall-timeout", "30s") {
		if c.fault == fWrongCA {
			// A server whose certificate does not verify cannot be
			// measured: skipped, like any unreachable server.
			c.want = skippedSample("unreachable")
		}
		cells = append(cells, c)
	}
	return cells
}

func init() {
	register("pace", []string{fEchoToken, fURLPassword, fAuthRefused}, paceRedactCells)
}

// paceRedactCells: a hostile server's echo of the token becomes pace's
// model id (the baseline's identity, the textfile label, the summary), a
// password in --url, and a refused token.
func paceRedactCells() []cell {
	return []cell{
		{fault: fEchoToken, sim: fault(councilsim.FaultEchoAuth),
			setup: func(t *testing.T, w *world) {
				w.args = append(w.args, "--metrics-dir", w.home.Dir)
			},
			want: want{code: 1, event: "pace_sample", alert: delivered, alertCheck: "degenerate",
				then: func(t *testing.T, w *world) {
					evs := probetest.Find(w.events(), "pace_sample", "")
					if m, _ := evs[0]["model"].(string); !strings.Contains(m, "Bearer [redacted]") {
						t.Errorf("the echoed model id should be kept and shown masked: %q", m)
					}
				}},
			note: "the echoed token, as the model id and the answer, is masked in the event, the state's baseline, the textfile label and the degenerate alert (the echo is no count)"},
		{fault: fURLPassword, sim: fault(councilsim.Fault500),
			setup: func(t *testing.T, w *world) {
				w.args = append(w.args, "--url", withPassword(t, w.sim.PlainURL()))
			},
			want: want{code: 3, event: "pace_sample", alert: noAlert,
				then: func(t *testing.T, w *world) {
					if l := found(w, urlPassword); len(l) > 0 {
						t.Errorf("the --url password was written to %v", l)
					}
				}},
			note: "skipped (500), and the URL's password is written nowhere"},
		{fault: fAuthRefused, sim: func(c *councilsim.Config) { c.Token = "the-server-wants-another-token" }, ticks: 3,
			want: want{code: 3, event: "auth_refused", check: "auth", alert: delivered,
				then: func(t *testing.T, w *world) {
					if n := len(w.ff.AlertsFor("auth")); n != 1 {
						t.Errorf("want one auth alert over 3 ticks (threshold 1, cooldown), got %d: %+v", n, w.ff.Alerts())
					}
					for _, ch := range []string{"ttft_degraded", "decode_degraded"} {
						if n := len(w.ff.AlertsFor(ch)); n != 0 {
							t.Errorf("%d %s alert(s) for a refused token", n, ch)
						}
					}
				}},
			note: "a refused token is our fault: UNKNOWN on the auth channel, alerted once"},
	}
}
