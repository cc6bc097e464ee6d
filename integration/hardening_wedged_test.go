package integration

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// Busy or wedged, and why it died: the primary is council-sim run by the
// fake launchd as its own process (so its CPU is really sampled), and the
// canary's state is written as the canary saves it. The CPU window is
// short and the idle line a little above the default: /proc counts in
// 10 ms ticks.
const (
	fWedge       = "chat wedged, CPU idle"
	fBusy        = "chat hung, CPU busy"
	fStaleHang   = "canary hang, state stale"
	fCrashHidden = "crash hidden by KeepAlive"
)

func init() {
	register("guardian", []string{fWedge, fBusy, fStaleHang, fCrashHidden}, wedgedCells)
}

// The primaries are seconds old: the start-up grace has its own cells.
var wedgedCPUArgs = []string{"--cpu-window", "2s", "--idle-cpu", "0.05", "--verify-timeout", "20s", "--startup-grace", "0"}

// primarySim is council-sim as the primary under the fake launchd.
type primarySim struct{ URL, Control string }

// loadPrimarySim writes the primary's plist (council-sim, with a control
// listener, and extra flags) and bootstraps it; it returns once the
// simulator serves.
func (w *world) loadPrimarySim(keepAlive bool, extra ...string) primarySim {
	w.t.Helper()
	// The ports are found free, then released for the simulator to take:
	// under the matrix's parallel load another listener can take one in
	// between, and the simulator then exits at start. Such a start is
	// retried on fresh ports; a simulator that never serves still fails.
	for attempt := 1; ; attempt++ {
		p := w.bootstrapPrimarySim(keepAlive, extra)
		if w.servesFault(p, "none", 20*time.Second) {
			w.args = append(append(w.args, "--url", p.URL), wedgedCPUArgs...)
			return p
		}
		if attempt == 3 {
			w.t.Fatalf("the primary simulator never served with fault none (3 starts)")
		}
		w.launchctl("bootout", domain()+"/com.sanctum.mlx")
	}
}

// bootstrapPrimarySim writes the primary's plist for council-sim on fresh
// ports and bootstraps it in the fake launchd.
func (w *world) bootstrapPrimarySim(keepAlive bool, extra []string) primarySim {
	w.t.Helper()
	port, ctl := probetest.FreePort(w.t), probetest.FreePort(w.t)
	p := primarySim{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Control: fmt.Sprintf("http://127.0.0.1:%d", ctl)}
	args := []string{simBin, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--control", fmt.Sprintf("127.0.0.1:%d", ctl),
		"--access-log", filepath.Join(w.home.LogDir, "sanctum-mlx.log"), "--slow-delay", "1h"}
	args = append(args, extra...)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>com.sanctum.mlx</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range args {
		b.WriteString("\t\t<string>" + html.EscapeString(a) + "</string>\n")
	}
	fmt.Fprintf(&b, "\t</array>\n\t<key>RunAtLoad</key><true/>\n\t<key>KeepAlive</key><%t/>\n</dict>\n</plist>\n", keepAlive)
	if err := os.MkdirAll(w.launchAgents(), 0o700); err != nil {
		w.t.Fatal(err)
	}
	plistPath := filepath.Join(w.launchAgents(), "com.sanctum.mlx.plist")
	if err := os.WriteFile(plistPath, []byte(b.String()), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.launchctl("bootstrap", domain(), plistPath)
	return p
}

// servesFault reports whether the simulator at p serves with fault f
// within limit (a bound on a hang, not a timing assertion).
func (w *world) servesFault(p primarySim, f string, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.Control + "/state"); err == nil {
			var buf [1024]byte
			n, _ := resp.Body.Read(buf[:])
			resp.Body.Close()
			if strings.Contains(string(buf[:n]), fmt.Sprintf(`"fault":%q`, f)) {
				return true
			}
		}
	}
	return false
}

func (w *world) primaryFault(p primarySim, f string) {
	w.t.Helper()
	resp, err := http.Post(p.Control+"/fault", "application/json", strings.NewReader(fmt.Sprintf(`{"fault":%q}`, f)))
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
}

// canaryHang writes the canary's state with its hang channel failing n
// times, the last tick at last.
func (w *world) canaryHang(n int, last time.Time) {
	w.t.Helper()
	st := state.New("canary")
	st.IntervalSeconds, st.LastTick, st.LastExit = 600, last, 2
	st.Channels["hang"] = &alert.Channel{Consecutive: n, Firing: true, Severity: alert.Error, Since: last.Add(-10 * time.Minute)}
	if err := st.Save(w.home.StateFile("canary")); err != nil {
		w.t.Fatal(err)
	}
}

func wedgedCells() []cell {
	kickstarts := func(want bool) func(t *testing.T, w *world) {
		return func(t *testing.T, w *world) {
			if hasCall(w.ld.Calls(), "kickstart -k") != want {
				t.Errorf("kickstart -k among the launchctl calls = %v, want %v: %q", !want, want, w.ld.Calls())
			}
		}
	}
	return []cell{
		{fault: fWedge,
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimarySim(false)
				w.primaryFault(p, "wedge")
				w.canaryHang(2, time.Now())
			},
			want: want{code: 2, event: "wedged", check: "wedged", alert: delivered, then: func(t *testing.T, w *world) {
				kickstarts(true)(t, w)
				if len(probetest.Find(w.events(), "restart_verified", "")) != 1 {
					t.Errorf("the restart was not verified by chat:\n%s", dumpEvents(w.events()))
				}
				if !deliveredWith(w, "wedged", "idle") {
					t.Errorf("the wedged alert does not say idle: %+v", w.ff.Alerts())
				}
			}},
			note: "canary hang x2 + idle CPU: wedged (error, \"idle\"), kickstart -k, verified by a chat answer, recovered"},
		{fault: fBusy,
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimarySim(false)
				w.primaryFault(p, "busy")
				w.canaryHang(2, time.Now())
			},
			want: want{code: 0, event: "probe_skip_busy", check: "wedged", then: kickstarts(false)},
			note: "canary hang x2 + busy CPU: probe_skip_busy reason=cpu, nothing restarted until --max-busy (then a runaway restart)"},
		{fault: fStaleHang,
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimarySim(false)
				w.primaryFault(p, "wedge")
				w.canaryHang(5, time.Now().Add(-time.Hour))
			},
			want: want{code: 0, event: "wedged_no_evidence", check: "wedged", then: kickstarts(false)},
			note: "a canary state older than 3 canary intervals is no evidence: no CPU sample, no restart"},
		{fault: fCrashHidden, ticks: 1,
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimarySim(true)
				if res := w.tick(); res.Code != 0 { // launchd's baseline
					t.Fatalf("baseline tick: exit %d\n%s", res.Code, res.Stdout)
				}
				w.primaryFault(p, "crash")
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/v1/chat/completions",
					strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
				// The fake launchd respawns a KeepAlive job on its next call.
				for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					w.launchctl("print", fmt.Sprintf("%s/com.sanctum.mlx", domain()))
					if resp, err := http.Get(p.Control + "/state"); err == nil {
						var buf [1024]byte
						n, _ := resp.Body.Read(buf[:])
						resp.Body.Close()
						if strings.Contains(string(buf[:n]), `"fault":"none"`) {
							return
						}
					}
				}
				t.Fatal("the crashed primary was not respawned")
			},
			want: want{code: 1, event: "crashed", check: "crashed", alert: delivered, then: func(t *testing.T, w *world) {
				if !deliveredWith(w, "crashed", "signal 11", "kIOGPUCommandBufferCallbackErrorOutOfMemory") {
					t.Errorf("the crashed alert lacks launchd's signal or the log line: %+v", w.ff.Alerts())
				}
				kickstarts(false)(t, w)
			}},
			note: "SIGSEGV after a Metal OOM line, respawned by KeepAlive, serving again: crashed at warn with signal 11 and the line"},
	}
}

// deliveredWith reports whether Force Flow got an alert on check whose
// message holds every part.
func deliveredWith(w *world, check string, parts ...string) bool {
	for _, a := range w.ff.AlertsFor(check) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(a.Message, p)
		}
		if ok {
			return true
		}
	}
	return false
}
