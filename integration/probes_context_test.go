package integration

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// The context column: council-context judges the server's window, a
// needle sized for it (--expect-context 1000: 800 words, inside the
// simulator's usual 4096) and the server's log. A server that is down,
// hangs or answers an error is the guardian's and canary's business: the
// needle is skipped (exit 3) and no context channel alerts. Its own
// faults: a prompt cut silently to a 500-token window (context_truncated,
// error) and context shifts in the server's log (context_pressure, warn).

const (
	fTruncate     = "prompt cut to the window (silent)"
	fContextShift = "context shifts in the server's log"
)

var contextRig = probeRig{
	name: "context", binary: "council-context", cmdDir: "probes/context/cmd/council-context", network: true,
	prepare: func(w *world) []string {
		return []string{"--expect-context", "1000", "--deadline", "3s", "--server-log", ""}
	},
}

// skippedNeedle is a needle context leaves to the other probes.
func skippedNeedle(reason string) want {
	return want{code: 3, event: "context_skipped", alert: noAlert,
		then: func(t *testing.T, w *world) {
			evs := probetest.Find(w.events(), "context_skipped", "")
			if len(evs) == 0 || evs[len(evs)-1]["reason"] != reason {
				t.Errorf("want the needle skipped (%s):\n%s", reason, dumpEvents(w.events()))
			}
		}}
}

// truncating is a simulator that cuts prompts to a 500-token window.
func truncating(c *councilsim.Config) {
	c.Fault, c.ContextWindow = councilsim.FaultTruncate, 500
}

// contextTruncated: the needle (800 words) is cut to 500 tokens and
// answered 200: context_truncated at error, alerted at once.
var contextTruncated = trigger{sim: truncating, ticks: 1, code: 2, event: "context_truncated", check: "context_truncated",
	heal: func(t *testing.T, w *world) {
		heal(t, w)
		w.sim.SetContextWindow(0)
	}}

// simLog is a simulator's log written to a file the cell names once the
// world exists (the simulator starts first); before that it is dropped.
type simLog struct {
	mu   sync.Mutex
	path string
}

func (l *simLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path == "" {
		return len(p), nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Write(p)
}

func (l *simLog) setPath(p string) {
	l.mu.Lock()
	l.path = p
	l.mu.Unlock()
}

func contextCells() []cell {
	cells := commonCells("context_whole", "context_truncated")
	shifts := &simLog{}
	cells = append(cells,
		cell{fault: fDown, sim: fault(councilsim.FaultDown), want: skippedNeedle("unreachable"),
			note: "skipped: down is the guardian's and canary's business; context never alerts on it"},
		cell{fault: fHang, sim: fault(councilsim.FaultHang), want: skippedNeedle("hang")},
		cell{fault: fHangAll, sim: fault(councilsim.FaultHangAll), want: skippedNeedle("hang")},
		cell{fault: fSlow, sim: slow, want: skippedNeedle("hang")},
		cell{fault: f500, sim: fault(councilsim.Fault500), want: skippedNeedle("http_error")},
		cell{fault: fHTML, sim: fault(councilsim.FaultHTML), want: skippedNeedle("bad_response")},
		cell{fault: fWrong, sim: fault(councilsim.FaultWrong), want: ok("context_whole", "context_truncated"),
			note: "the codes a model repeats are reported, judged only with --check-needle"},
		cell{fault: fSSEStall, sim: fault(councilsim.FaultSSEStall), want: ok("context_whole", "context_truncated"),
			note: "the needle is asked without streaming"},
		cell{fault: fTruncate, sim: truncating, want: failing(2, "context_truncated", "context_truncated"),
			note: "usage.prompt_tokens 500 for an 800-word prompt: truncated, error, alerted at once"},
		cell{fault: fContextShift,
			sim: func(c *councilsim.Config) { c.Fault, c.AccessLog = councilsim.FaultContextShift, shifts },
			setup: func(t *testing.T, w *world) {
				p := filepath.Join(w.home.LogDir, "server.log")
				shifts.setPath(p)
				w.args = append(w.args, "--server-log", p)
			},
			ticks: 2,
			want: want{code: 1, event: "context_pressure", check: "context_pressure", alert: delivered,
				then: func(t *testing.T, w *world) {
					evs := probetest.Find(w.events(), "context_pressure", "context_pressure")
					if len(evs) != 1 || !strings.Contains(evs[0]["detail"].(string), "1 context shift since") {
						t.Errorf("want one pressure event counting the shift the second tick saw:\n%s", dumpEvents(w.events()))
					}
				}},
			note: "the first tick learns the log position; a shift logged after it is pressure (warn)"},
	)
	cells = append(cells, alertCells(contextTruncated)...)
	for _, c := range networkCells("context", trigger{}, "--deadline", "30s") {
		if c.fault == fWrongCA {
			// A server whose certificate does not verify cannot be asked:
			// skipped, like any unreachable server.
			c.want = skippedNeedle("unreachable")
		}
		cells = append(cells, c)
	}
	return cells
}

func init() {
	register("context", []string{fTruncate, fContextShift}, func() []cell { return nil })
}
