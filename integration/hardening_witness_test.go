package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// A server is a witness, not a judge: the cells of a server that steers
// pace with what it says about itself, and of server words that would
// drive a terminal or fill a disk. Each failed on the code before.
const (
	fRenamed      = "renames its model every tick, 4x slower"
	fUsageLies    = "usage claims 2e9 tokens"
	fBuffered     = "stream arrives in one read"
	fBusyForever  = "metrics say busy on every tick"
	fDegenerate   = "answer loops at full speed"
	fHostileWords = "server words carry terminal escapes"
	fHugeID       = "1 MB model id"
)

func init() {
	register("pace", []string{fRenamed, fUsageLies, fBuffered, fBusyForever, fDegenerate, fHostileWords, fHugeID}, paceWitnessCells)
	register("guardian", []string{fHostileWords, fHugeID}, guardianWitnessCells)
	register("canary", []string{fHugeID}, canaryWitnessCells)
}

// lastSample is pace's last pace_sample event.
func lastSample(t *testing.T, w *world) map[string]any {
	t.Helper()
	evs := probetest.Find(w.events(), "pace_sample", "")
	if len(evs) == 0 {
		t.Fatalf("no pace_sample:\n%s", dumpEvents(w.events()))
	}
	return evs[len(evs)-1]
}

// plain fails when s (what reached an operator) carries a control or
// format character other than a line break between lines.
func plain(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if r != '\n' && unicode.In(r, unicode.Cc, unicode.Cf) {
			t.Errorf("%U reached %s: %.200q", r, what, s)
			return
		}
	}
}

// nothingHostile checks every place a server's words could reach: the
// stdout and stderr of every tick, the alerts, the decoded event log, the
// state file and the textfile (both as written, JSON-escaped or not).
func nothingHostile(t *testing.T, w *world) {
	t.Helper()
	for i, o := range w.outs {
		plain(t, fmt.Sprintf("output #%d", i), o)
	}
	for _, a := range w.ff.Alerts() {
		plain(t, "alert "+a.Title, a.Title+" "+a.Message)
	}
	b, _ := json.Marshal(w.events())
	var evs []map[string]any
	json.Unmarshal(b, &evs)
	for _, ev := range evs {
		for k, v := range ev {
			if s, ok := v.(string); ok {
				plain(t, "event field "+k, s)
			}
		}
	}
	for _, f := range []string{w.stateFile(), filepath.Join(w.home.Dir, "council_"+w.rig.name+".prom")} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		plain(t, filepath.Base(f), string(data))
		for _, esc := range []string{`\u001b`, `\u0007`, `\u202e`, `\r`} {
			if strings.Contains(string(data), esc) {
				t.Errorf("%s holds %s", filepath.Base(f), esc)
			}
		}
	}
}

// sizesBounded checks what a 1 MB model id may cost: the textfile under 64
// KB, each alert under 4 KB, the state under 256 KB, the log under 256 KB.
func sizesBounded(t *testing.T, w *world) {
	t.Helper()
	for _, f := range []struct {
		path string
		max  int64
	}{
		{filepath.Join(w.home.Dir, "council_"+w.rig.name+".prom"), 64 << 10},
		{w.stateFile(), 256 << 10},
		{w.logFile(), 256 << 10},
	} {
		fi, err := os.Stat(f.path)
		if err != nil {
			if !strings.HasSuffix(f.path, ".prom") || w.rig.name == "pace" {
				t.Errorf("%v", err)
			}
			continue
		}
		if fi.Size() >= f.max {
			t.Errorf("%s is %d bytes, want under %d", filepath.Base(f.path), fi.Size(), f.max)
		}
	}
	for _, a := range w.ff.Alerts() {
		if n := len(a.Title) + len(a.Message); n >= 4<<10 {
			t.Errorf("alert %s is %d bytes, want under 4096", a.Title, n)
		}
	}
}

func paceWitnessCells() []cell {
	usual := councilsim.Pace{TTFT: 100 * time.Millisecond, TokenDelay: 10 * time.Millisecond}
	return []cell{
		{fault: fRenamed, ticks: 3, args: []string{"--model", councilsim.DefaultModel, "--warmup", "2"},
			setup: func(t *testing.T, w *world) {
				w.sim.SetPace(usual)
				for i := 0; i < 3; i++ { // learn the usual pace
					if res := w.tick(); res.Code != 0 {
						t.Fatalf("warm-up tick %d: exit %d\n%s", i, res.Code, res.Stdout)
					}
				}
				if err := w.sim.SetFault(councilsim.FaultRenameModel); err != nil {
					t.Fatal(err)
				}
				w.sim.SetPace(councilsim.Pace{TTFT: 4 * usual.TTFT, TokenDelay: usual.TokenDelay})
			},
			want: want{code: 1, event: "pace_degraded", check: "ttft_degraded", alert: delivered, then: func(t *testing.T, w *world) {
				for _, a := range w.ff.Alerts() {
					if strings.HasSuffix(a.Title, "recovered") {
						t.Errorf("a recovery was sent while the server stayed slow: %+v", a)
					}
				}
				if r := probetest.Find(w.events(), "baseline_reset", ""); len(r) != 0 {
					t.Errorf("the server's new names reset the baseline: %v", r)
				}
			}},
			note: "a new model name and fingerprint in every answer never resets the operator's baseline: degraded each tick, no recovery"},
		{fault: fUsageLies, sim: fault(councilsim.FaultUsageLies),
			want: want{code: 0, event: "pace_sample", alert: noAlert, then: func(t *testing.T, w *world) {
				if ev := lastSample(t, w); ev["result"] != "implausible" || ev["completion_tokens"] != float64(councilsim.UsageLie) {
					t.Errorf("sample %v: want implausible with the server's count", ev)
				}
			}},
			note: "a usage over max_tokens is implausible: logged with both counts, neither judged nor learned"},
		{fault: fBuffered, sim: func(c *councilsim.Config) { c.Fault, c.Pace = councilsim.FaultBuffered, usual },
			want: want{code: 0, event: "pace_sample", alert: noAlert, then: func(t *testing.T, w *world) {
				ev := lastSample(t, w)
				if _, ok := ev["decode_tps"]; ok || !strings.Contains(fmt.Sprint(ev["decode_unmeasured"]), "one read") {
					t.Errorf("sample %v: want its decode unmeasured, and why", ev)
				}
			}},
			note: "tokens that all arrive in one read have no decode speed: the TTFT is judged, the decode is not"},
		{fault: fBusyForever, sim: personality(councilsim.PersonalityLlamaServer, councilsim.BackendFaultNone), ticks: 2,
			args: []string{"--max-unjudged", "2"},
			setup: func(t *testing.T, w *world) {
				if err := w.sim.SetReportedLoad(0, 1); err != nil { // a deferred request, always
					t.Fatal(err)
				}
			},
			want: want{code: 1, event: "not_judged", check: "not_judged", alert: delivered, then: func(t *testing.T, w *world) {
				if !deliveredWith(w, "not_judged", "busy from the server's metrics") {
					t.Errorf("the not_judged alert does not say why: %+v", w.ff.Alerts())
				}
			}},
			note: "llama-server /metrics reporting a deferred request on every tick: --max-unjudged busy samples warn on not_judged"},
		{fault: fDegenerate, sim: fault(councilsim.FaultLoop),
			want: want{code: 1, event: "pace_degenerate", check: "degenerate", alert: delivered},
			note: "a count that loops (1 2 3 1 2 3) at full speed: degenerate at once"},
		{fault: fHostileWords, sim: func(c *councilsim.Config) { c.Fault, c.Pace = councilsim.FaultHostileIDs, usual }, ticks: 2,
			args: []string{"--baseline-ttft", "1ms", "--metrics-dir", "."},
			setup: func(t *testing.T, w *world) {
				w.args[len(w.args)-1] = w.home.Dir
			},
			want: want{code: 1, event: "pace_degraded", check: "ttft_degraded", alert: delivered, then: nothingHostile},
			note: "a model id and fingerprint with CSI 2J, OSC 0 and 52, BEL, CR and U+202E reach no output, alert, event, state or textfile"},
		{fault: fHugeID, sim: func(c *councilsim.Config) { c.Fault, c.Pace = councilsim.FaultHugeIDs, usual }, ticks: 2,
			args: []string{"--model", councilsim.DefaultModel, "--baseline-ttft", "1ms", "--metrics-dir", "."},
			setup: func(t *testing.T, w *world) {
				w.args[len(w.args)-1] = w.home.Dir
			},
			want: want{code: 1, event: "pace_degraded", check: "ttft_degraded", alert: delivered, then: sizesBounded},
			note: "a 1 MB model id in every answer (with --model set): textfile < 64 KB, alert < 4 KB, state < 256 KB"},
	}
}

func guardianWitnessCells() []cell {
	return []cell{
		{fault: fHostileWords, sim: func(c *councilsim.Config) {
			personality(councilsim.PersonalityOllama, councilsim.BackendFaultNone)(c)
			c.Fault = councilsim.FaultHostileIDs
		},
			want: want{code: 0, event: "probe_ok", check: "unreachable", alert: noAlert, then: func(t *testing.T, w *world) {
				nothingHostile(t, w)
				// council-status shows the detected backend, with the
				// version /api/version gave.
				cmd := exec.Command(statusBin, "--color", "never")
				cmd.Env = w.environ()
				out, _ := cmd.CombinedOutput()
				if !strings.Contains(string(out), "backend: ollama") {
					t.Fatalf("council-status shows no backend:\n%s", out)
				}
				plain(t, "council-status", string(out))
			}},
			note: "an Ollama whose /api/version and model id carry escapes: the guardian's line and council-status's backend line print none"},
		{fault: fHugeID, sim: fault(councilsim.FaultHugeIDs), args: []string{"--model", "council-70b"},
			want: want{code: 1, event: "probe_fail", check: "unreachable", alert: noAlert, then: sizesBounded},
			note: "a 1 MB model id listed first, --model not served: the failure names the ids, and the log and the state stay small"},
	}
}

func canaryWitnessCells() []cell {
	return []cell{
		{fault: fHugeID, sim: fault(councilsim.FaultHugeIDs), ticks: 2,
			want: want{code: 0, event: "canary_ok", alert: noAlert, then: sizesBounded},
			note: "a 1 MB model id, listed and in the answer: the log and the state stay small"},
	}
}
