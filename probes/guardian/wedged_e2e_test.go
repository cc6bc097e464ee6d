package guardian_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// These tests run council-sim as the primary under the fake launchd (a
// separate process, so its CPU is really measured) and write the canary's
// state file the way the canary saves it (pkg/core/state). The CPU window is
// short and the idle line a little above the default (5% of a core over
// 2 s): /proc counts CPU in 10 ms ticks, and a shared machine must not
// make an idle process read busy. Nothing asserts on time.
var wedgedArgs = []string{"--cpu-window", "2s", "--idle-cpu", "0.05"}

// loadSim bootstraps council-sim as the primary with a control listener
// and returns it and its control URL.
func (r *rig) loadSim(keepAlive bool, extra ...string) (launchedSim, string) {
	r.t.Helper()
	port, ctl := probetest.FreePort(r.t), probetest.FreePort(r.t)
	s := launchedSim{URL: fmt.Sprintf("http://127.0.0.1:%d", port), PIDFile: filepath.Join(r.h.Dir, "primary.pid"), Plist: r.primaryPlist()}
	args := append(r.simArgs(port, 0, r.primaryLog(), s.PIDFile), "--control", fmt.Sprintf("127.0.0.1:%d", ctl))
	writePlist(r.t, s.Plist, plistOpts{label: primaryLabel, args: append(args, extra...), runAtLoad: boolp(true), keepAlive: keepAlive})
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", uid), s.Plist)
	r.waitServing(s.URL)
	return s, fmt.Sprintf("http://127.0.0.1:%d", ctl)
}

func setFault(t *testing.T, controlURL, fault string) {
	t.Helper()
	resp, err := http.Post(controlURL+"/fault", "application/json", strings.NewReader(fmt.Sprintf(`{"fault":%q}`, fault)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /fault %s: HTTP %d", fault, resp.StatusCode)
	}
}

// canaryHang writes the canary's state: its hang channel failing for n
// ticks, the last one at lastTick.
func (r *rig) canaryHang(n int, lastTick time.Time) {
	r.t.Helper()
	st := state.New("canary")
	st.IntervalSeconds = 600
	st.LastTick, st.LastExit = lastTick, 2
	st.Channels["hang"] = &alert.Channel{Consecutive: n, Firing: n >= 2, Severity: alert.Error,
		Summary: "no answer within the deadline", Since: lastTick.Add(-time.Duration(n-1) * 10 * time.Minute)}
	if err := st.Save(r.h.StateFile("canary")); err != nil {
		r.t.Fatal(err)
	}
}

// chatOnce sends one chat request and gives up after d.
func chatOnce(url string, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions",
		strings.NewReader(`{"messages":[{"role":"user","content":"What is 2+2?"}],"max_tokens":8}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

func alertWith(t *testing.T, r *rig, check string, sev string, parts ...string) {
	t.Helper()
	for _, a := range r.ff.AlertsFor(check) {
		ok := string(a.Severity) == sev
		for _, p := range parts {
			ok = ok && strings.Contains(a.Message, p)
		}
		if ok {
			return
		}
	}
	t.Fatalf("no %s alert on %s containing %q; alerts: %+v", sev, check, parts, r.ff.Alerts())
}

// Wedged: /v1/models green, chat hung for two canary ticks, CPU idle ->
// kickstart, verified by a chat answer, recovered; the alert says idle.
func TestWedgedPrimaryIsRestartedAndVerifiedByChat(t *testing.T) {
	r := newRig(t)
	prim, ctl := r.loadSim(false)
	r.args = append(append(r.args, "--url", prim.URL), wedgedArgs...)
	setFault(t, ctl, "wedge")
	r.canaryHang(2, time.Now())
	setup := len(r.ld.Calls())

	r.run()
	evs := r.events()
	if ev := one(t, evs, "wedged", "wedged"); ev["reason"] != "idle" || ev["canary_check"] != "hang" {
		t.Fatalf("wedged event: %v", ev)
	}
	wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
	if ev := one(t, evs, "restart_verified", "restart_unverified"); ev["reason"] != "idle" {
		t.Fatalf("restart_verified: %v", ev)
	}
	alertWith(t, r, "wedged", "error", "idle", "wedged")
	alertWith(t, r, "wedged", "info")

	// The next tick: the canary has not run since the restart, so its old
	// hang is no evidence; nothing is restarted again.
	r.run()
	wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
}

// Busy: chat hung, CPU busy -> no kickstart, probe_skip_busy reason=cpu;
// past --max-busy -> restarted as a runaway.
func TestBusyPrimaryIsLeftAloneUntilMaxBusy(t *testing.T) {
	r := newRig(t)
	prim, ctl := r.loadSim(false, "--slow-delay", "1h")
	r.args = append(append(r.args, "--url", prim.URL), wedgedArgs...)
	setFault(t, ctl, "busy")
	r.canaryHang(3, time.Now())
	setup := len(r.ld.Calls())

	wantCode(t, r.run("--max-busy", "1h"), 0)
	evs := r.events()
	if ev := one(t, evs, "probe_skip_busy", "wedged"); ev["reason"] != "cpu" {
		t.Fatalf("probe_skip_busy: %v", ev)
	}
	none(t, evs, "wedged")
	wantCalls(t, r.mutating(setup))

	// The busy episode began at the first tick; a max-busy shorter than
	// its age makes it a runaway.
	r.run("--max-busy", "1ms")
	if ev := one(t, r.events(), "wedged", "wedged"); ev["reason"] != "runaway" {
		t.Fatalf("wedged event: %v", ev)
	}
	wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
	one(t, r.events(), "restart_verified", "restart_unverified")
	alertWith(t, r, "wedged", "error", "runaway")
}

// Busy in a child: the primary itself idles while its worker child spins
// (Ollama's `ollama serve` and `ollama runner`). The CPU sampled is the
// whole tree's, so the primary is busy, not wedged. Sampling the primary's
// own pid alone called it idle and restarted it.
func TestBusyChildIsNotWedged(t *testing.T) {
	r := newRig(t)
	prim, ctl := r.loadSim(false, "--slow-delay", "1h", "--runner")
	r.args = append(append(r.args, "--url", prim.URL), wedgedArgs...)
	setFault(t, ctl, "busy")
	r.canaryHang(3, time.Now())
	setup := len(r.ld.Calls())

	wantCode(t, r.run("--max-busy", "1h"), 0)
	evs := r.events()
	ev := one(t, evs, "probe_skip_busy", "wedged")
	if ev["reason"] != "cpu" {
		t.Fatalf("probe_skip_busy: %v", ev)
	}
	if n, _ := ev["cpu_procs"].(float64); n < 2 {
		t.Errorf("cpu_procs %v: the sample should cover the primary and its runner", ev["cpu_procs"])
	}
	none(t, evs, "wedged")
	wantCalls(t, r.mutating(setup))
}

// A stale canary state is no evidence: no CPU sample, no restart.
func TestStaleCanaryStateIsNoEvidence(t *testing.T) {
	r := newRig(t)
	prim, ctl := r.loadSim(false)
	r.args = append(append(r.args, "--url", prim.URL), wedgedArgs...)
	setFault(t, ctl, "wedge")
	r.canaryHang(5, time.Now().Add(-31*time.Minute)) // 3 x 10 min ago and then some
	setup := len(r.ld.Calls())

	wantCode(t, r.run(), 0)
	evs := r.events()
	if ev := one(t, evs, "wedged_no_evidence", "wedged"); !strings.Contains(fmt.Sprint(ev["reason"]), "stale") {
		t.Fatalf("wedged_no_evidence: %v", ev)
	}
	none(t, evs, "wedged")
	none(t, evs, "probe_skip_busy")
	wantCalls(t, r.mutating(setup))
}

// crashOnce makes the primary crash (fault crash, one chat request), lets
// the fake launchd notice and restart it (KeepAlive), and waits until it
// serves again.
func (r *rig) crashOnce(prim launchedSim, ctl string) {
	r.t.Helper()
	setFault(r.t, ctl, "crash")
	chatOnce(prim.URL, 5*time.Second)
	// launchd restarts a KeepAlive job at once; the fake does it on its
	// next invocation.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r.launchctl("print", service(primaryLabel))
		if resp, err := http.Get(prim.URL + "/v1/models"); err == nil {
			resp.Body.Close()
			// A fresh process starts without the fault.
			if r.faultIs(ctl, "none") {
				return
			}
		}
	}
	r.t.Fatal("the crashed primary was not restarted")
}

func (r *rig) faultIs(ctl, fault string) bool {
	resp, err := http.Get(ctl + "/state")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b [512]byte
	n, _ := resp.Body.Read(b[:])
	return strings.Contains(string(b[:n]), fmt.Sprintf(`"fault":%q`, fault))
}

// A crash by SIGSEGV after a Metal OOM line, hidden by KeepAlive: crashed
// at warn, with launchd's signal and the log line; three in the window:
// crashed at error.
func TestCrashHiddenByKeepAlive(t *testing.T) {
	r := newRig(t)
	prim, ctl := r.loadSim(true)
	r.args = append(r.args, "--url", prim.URL)
	wantCode(t, r.run(), 0) // first look at launchd: nothing to compare yet
	none(t, r.events(), "crashed")

	r.crashOnce(prim, ctl)
	wantCode(t, r.run(), 1)
	evs := probetest.Find(r.events(), "crashed", "crashed")
	if len(evs) != 1 || evs[0]["level"] != "warn" || !strings.Contains(fmt.Sprint(evs[0]["last_exit"]), "signal 11") {
		t.Fatalf("crashed events:\n%s", dump(evs))
	}
	alertWith(t, r, "crashed", "warn", "signal 11", "kIOGPUCommandBufferCallbackErrorOutOfMemory")

	// A healthy tick with no new crash raises nothing new.
	r.run()
	if got := probetest.Find(r.events(), "crashed", "crashed"); len(got) != 1 {
		t.Fatalf("a tick without a crash reported one:\n%s", dump(got))
	}

	for range 2 {
		r.crashOnce(prim, ctl)
		r.run()
	}
	evs = probetest.Find(r.events(), "crashed", "crashed")
	if len(evs) != 3 || evs[2]["level"] != "error" || evs[2]["crashes_in_window"] != 3.0 {
		t.Fatalf("crashed events:\n%s", dump(evs))
	}
	alertWith(t, r, "crashed", "error", "crash-looping", "signal 11")
}

// A primary that died of SIGSEGV right after a Metal out-of-memory line is
// restarted, not replaced by the fallback (a Metal OOM is worth a
// restart), and the alert and the restarting event carry launchd's signal
// and the log line.
func TestMetalOOMCrashRestartsWithItsCause(t *testing.T) {
	r := newRig(t)
	r.writeFallback()
	prim, ctl := r.loadSim(false)
	r.args = append(r.args, "--url", prim.URL, "--restart-after", "1")
	setFault(t, ctl, "crash")
	chatOnce(prim.URL, 5*time.Second)
	r.waitDown(prim.URL)
	setup := len(r.ld.Calls())

	wantCode(t, r.run(), 2)
	evs := r.events()
	none(t, evs, "promoting_fallback")
	wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
	ev := one(t, evs, "restarting", "unreachable")
	lines := fmt.Sprint(ev["fatal_lines"])
	if !strings.Contains(fmt.Sprint(ev["last_exit"]), "signal 11") || !strings.Contains(lines, "kIOGPUCommandBufferCallbackErrorOutOfMemory") {
		t.Fatalf("restarting event lacks the cause: %v", ev)
	}
	alertWith(t, r, "unreachable", "error", "signal 11", "kIOGPUCommandBufferCallbackErrorOutOfMemory")
	one(t, evs, "restart_verified", "restart_unverified")
}

// waitDown waits until url refuses connections.
func (r *rig) waitDown(url string) {
	r.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url + "/v1/models")
		if err != nil {
			return
		}
		resp.Body.Close()
	}
	r.t.Fatalf("%s still serves", url)
}

// A bad wedged or crashed setting is a config error on every tick (exit
// 3, naming the flag), not only on the healthy ticks that use it.
func TestBadWedgedSettingsAreConfigErrors(t *testing.T) {
	for _, args := range [][]string{{"--idle-cpu", "2"}, {"--cpu-window", "0s"}, {"--crash-window", "0s"}, {"--wedged-after", "-1"}} {
		t.Run(args[0], func(t *testing.T) {
			r := newRig(t)
			r.args = append(r.args, "--url", deadURL(t))
			res := r.run(args...)
			wantCode(t, res, 3)
			if !strings.Contains(res.Stderr+res.Stdout, args[0]) {
				t.Fatalf("the error does not name %s:\n%s\n%s", args[0], res.Stdout, res.Stderr)
			}
		})
	}
}
