package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/host/signing"
	"github.com/sanctum/council-probes/pkg/host/systemctl"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/pkg/testkit/systemdsim"
)

// The systemd columns: the probes that ask the service manager (guardian,
// integrity, drift), run against the simulated systemd
// (pkg/testkit/systemdsim) instead of the fake launchd, for every fault
// that involves the service manager. The primary and the fallback are
// units of the user's manager; the faults that concern both managers
// (wedged, crashed, crash loop, promotion, interrupted promotion, restore,
// a manager that cannot be asked) have a cell in both columns.

// Faults about the service manager that the first matrix did not have.
const (
	fQuietTick     = "healthy again: the manager is not asked"
	fCrashLoop     = "crash loop hidden by KeepAlive/Restart="
	fStartLimit    = "primary failed at its start limit"
	fPromote       = "primary can never serve: promote"
	fRestore       = "restore-primary after a fix"
	fNotPermitted  = "restart or promotion not permitted"
	fSeenFuture    = "service_seen in 2031, then a crash"
	fLiarJournal   = "server prints systemd's words for its death"
	primaryUnit    = "sanctum-mlx.service"
	fallbackUnit   = "sanctum-fallback.service"
	systemdSuffix  = " (systemd)"
	crashLoopLimit = "2"
)

func init() {
	both := []string{fQuietTick, fCrashLoop, fSeenFuture, fPromote, fRestore, fManagerDown}
	register("guardian", both, guardianManagerCells)
	register("guardian"+systemdSuffix, both, guardianManagerCells)
	register("guardian"+systemdSuffix, []string{fStartLimit, fNotPermitted, fLiarJournal}, guardianSystemdCells)
	register("integrity"+systemdSuffix, []string{fNotPermitted}, integritySystemdCells)
	register("drift"+systemdSuffix, nil, driftSystemdCells)
}

var guardianSystemdRig = probeRig{
	name: "guardian", column: "guardian" + systemdSuffix, systemd: true,
	binary: "council-guardian", cmdDir: "probes/guardian/cmd/council-guardian", network: true,
	prepare: func(w *world) []string {
		return append(guardianRig.prepare(w), "--primary-unit", primaryUnit, "--fallback-unit", fallbackUnit)
	},
}

var integritySystemdRig = probeRig{
	name: "integrity", column: "integrity" + systemdSuffix, systemd: true,
	binary: "council-integrity", cmdDir: "probes/integrity/cmd/council-integrity",
	prepare: func(w *world) []string {
		h := w.installPrimaryBinary(lookPath(w.t, "sleep"))
		// The running primary is the unit's main process; no Metal on
		// Linux.
		os.Remove(h.Metallib)
		w.sd.WriteUnit(w.t, primaryUnit, "the primary", "ExecStart="+h.Binary+" 3600", "Restart=always")
		w.sd.Run(w.t, "enable", "--now", primaryUnit)
		return []string{"--primary-binary", h.Binary, "--signing-pubkey", h.Pub, "--fallback-url", "", "--verify-timeout", "20s",
			"--primary-unit", primaryUnit, "--fallback-unit", fallbackUnit}
	},
}

var driftSystemdRig = probeRig{
	name: "drift", column: "drift" + systemdSuffix, systemd: true,
	binary: "council-drift", cmdDir: "probes/drift/cmd/council-drift",
	prepare: func(w *world) []string {
		args := w.prepareDriftRepo()
		// The primary's unit running; the fallback's disabled, stopped.
		w.sd.WriteUnit(w.t, primaryUnit, "the primary", "ExecStart="+lookPath(w.t, "sleep")+" 3600", "Restart=always")
		w.sd.WriteUnit(w.t, fallbackUnit, "the fallback", "ExecStart="+lookPath(w.t, "sleep")+" 3600", "Restart=always")
		w.sd.Run(w.t, "enable", "--now", primaryUnit)
		return append(args, "--expect-agent", primaryUnit, "--primary-unit", primaryUnit, "--fallback-unit", fallbackUnit)
	},
}

// mutating is the manager's mutating calls so far: launchctl's (verb
// first) or systemctl's ("--user restart x.service").
func (w *world) mutating() []string {
	if w.rig.systemd {
		return w.sd.MutatingCalls()
	}
	return w.ld.MutatingCalls()
}

// calls is every call to the manager so far.
func (w *world) calls() []string {
	if w.rig.systemd {
		return w.sd.Calls()
	}
	return w.ld.Calls()
}

// sysctl is a systemctl call as the log records it, in the user scope.
func sysctl(args ...string) string { return "--user " + strings.Join(args, " ") }

// loadPrimary starts council-sim as the primary under the column's
// manager (a KeepAlive agent, or a unit with Restart=always when restart),
// with a control listener, and returns once it serves; the guardian's
// --url is pointed at it. journal: under systemd, the simulator logs to
// stdout (the journal) and the guardian reads --primary-log journal.
func (w *world) loadPrimary(restart, journal bool, extra ...string) primarySim {
	w.t.Helper()
	if !w.rig.systemd {
		return w.loadPrimarySim(restart, extra...)
	}
	for attempt := 1; ; attempt++ {
		port, ctl := probetest.FreePort(w.t), probetest.FreePort(w.t)
		p := primarySim{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Control: fmt.Sprintf("http://127.0.0.1:%d", ctl)}
		accessLog := filepath.Join(w.home.LogDir, "sanctum-mlx.log")
		if journal {
			accessLog = "/dev/stdout"
		}
		exec := strings.Join(append([]string{simBin, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--control", fmt.Sprintf("127.0.0.1:%d", ctl),
			"--access-log", accessLog, "--slow-delay", "1h"}, extra...), " ")
		lines := []string{"ExecStart=" + exec}
		if restart {
			lines = append(lines, "Restart=always", "RestartSec=100ms")
		}
		w.sd.WriteUnit(w.t, primaryUnit, "the primary (council-sim)", lines...)
		w.sd.Run(w.t, "enable", "--now", primaryUnit)
		if w.servesFault(p, "none", 20*time.Second) {
			w.args = append(append(w.args, "--url", p.URL), wedgedCPUArgs...)
			if journal {
				w.args = append(w.args, "--primary-log", "journal")
			}
			return p
		}
		if attempt == 3 {
			w.t.Fatalf("the primary simulator never served with fault none (3 starts)")
		}
		w.sd.Run(w.t, "disable", "--now", primaryUnit)
	}
}

// crashPrimary makes the primary crash (SIGSEGV after a Metal OOM line in
// its log) and waits until its manager has started it again and it serves.
func (w *world) crashPrimary(p primarySim) {
	w.t.Helper()
	w.primaryFault(p, "crash")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/v1/chat/completions",
		strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !w.rig.systemd {
			// The fake launchd respawns a KeepAlive job on its next call;
			// systemd's Restart= needs no call.
			w.launchctl("print", fmt.Sprintf("%s/com.sanctum.mlx", domain()))
		}
		if w.servesFault(p, "none", 100*time.Millisecond) {
			return
		}
	}
	w.t.Fatal("the crashed primary was not started again")
}

// writeFallbackUnit writes the fallback's unit (council-sim on a free
// port), disabled and stopped, as it ships.
func (w *world) writeFallbackUnit() fallback {
	w.t.Helper()
	port := probetest.FreePort(w.t)
	fb := fallback{URL: fmt.Sprintf("http://127.0.0.1:%d", port), PIDFile: filepath.Join(w.home.Dir, "fallback.pid")}
	fb.Plist = w.sd.WriteUnit(w.t, fallbackUnit, "the fallback (council-sim)",
		fmt.Sprintf("ExecStart=%s --listen 127.0.0.1:%d --pid-file %s", simBin, port, fb.PIDFile), "Restart=always")
	return fb
}

// writeColumnFallback is the column's fallback: a plist or a unit.
func (w *world) writeColumnFallback() fallback {
	if w.rig.systemd {
		return w.writeFallbackUnit()
	}
	return w.writeFallback()
}

// promoteColumn points the guardian at a primary whose binary is gone (it
// promotes at the first failure) and at the column's fallback.
func (w *world) promoteColumn() fallback {
	fb := w.writeColumnFallback()
	if w.rig.systemd {
		w.sd.WriteUnit(w.t, primaryUnit, "the primary", "ExecStart="+lookPath(w.t, "sleep")+" 3600")
		w.sd.Run(w.t, "enable", "--now", primaryUnit)
	}
	w.args = append(w.args, "--primary-binary", filepath.Join(w.home.Dir, "gone", "sanctum-mlx"),
		"--restart-after", "1", "--fallback-url", fb.URL, "--verify-timeout", "20s")
	return fb
}

// promotedSystemd asserts the systemd promotion: the primary disabled and
// stopped, the fallback enabled and running, the lock done.
func promotedSystemd(t *testing.T, w *world) {
	t.Helper()
	calls := w.sd.MutatingCalls()
	want := []string{sysctl("disable", "--now", primaryUnit), sysctl("enable", "--now", fallbackUnit)}
	i := slices.Index(calls, want[0])
	if i < 0 || !slices.Equal(calls[i:], want) {
		t.Errorf("the promotion's systemctl calls:\n  got  %q\n  want %q", calls, want)
	}
	p, f := w.sd.Show(t, primaryUnit), w.sd.Show(t, fallbackUnit)
	if p["ActiveState"] != "inactive" || p["UnitFileState"] != "disabled" {
		t.Errorf("primary after the promotion: %v", p)
	}
	if f["SubState"] != "running" || f["UnitFileState"] != "enabled" {
		t.Errorf("fallback after the promotion: %v", f)
	}
	if lk := readLock(t, w); !lk.Done() || lk.Primary != primaryUnit || lk.Fallback != fallbackUnit {
		t.Errorf("lock %+v", lk)
	}
}

// fallbackPause is the call an interrupted promotion is caught in: the
// fallback's enable, after the primary's disable.
func (w *world) fallbackPause() string {
	if w.rig.systemd {
		return "enable --now " + fallbackUnit
	}
	return enableFallback()
}

// promotionStepAfterPrimary is the lock's step once the primary is off.
func (w *world) promotionStepAfterPrimary() string {
	if w.rig.systemd {
		return systemctl.StepPrimaryDisabled
	}
	return "primary_disabled"
}

// resumedColumn asserts that an interrupted promotion was finished with
// the column's remaining calls.
func resumedColumn(t *testing.T, w *world) {
	t.Helper()
	if !w.rig.systemd {
		resumed(t, w, "enable", "bootstrap", "kickstart -k")
		return
	}
	lk := readLock(t, w)
	if !lk.Done() || lk.ResumedBy == "" {
		t.Errorf("lock after the resume: %+v", lk)
	}
	calls := w.sd.MutatingCalls()
	i := slices.Index(calls, sysctl("disable", "--now", primaryUnit))
	if i < 0 || !slices.Equal(calls[i+1:], []string{sysctl("enable", "--now", fallbackUnit)}) {
		t.Errorf("after the interruption systemctl ran %q, want only the fallback's enable --now", calls)
	}
}

// quietTickCell: a healthy tick whose primary is the process the last tick
// saw asks the manager nothing.
func quietTickCell() cell {
	var before int
	return cell{fault: fQuietTick,
		setup: func(t *testing.T, w *world) {
			w.loadPrimary(true, false)
			if res := w.tick(); res.Code != 0 { // asks the manager: no pid on record yet
				t.Fatalf("first tick: exit %d\n%s", res.Code, res.Stdout)
			}
			before = len(w.calls())
		},
		want: want{code: 0, event: "probe_ok", check: "unreachable", then: func(t *testing.T, w *world) {
			if after := w.calls(); len(after) != before {
				t.Errorf("a healthy tick with the same primary process ran the manager's command: %q", after[before:])
			}
		}},
		note: "the second healthy tick finds the same pid and start time (from the kernel, no exec) and asks the manager nothing"}
}

// guardianManagerCells are the guardian's service-manager cells, the same
// in its launchd and systemd columns.
// seenFutureCell: the guardian's record of the primary (service_seen:
// when it last looked, the process's start time) dated 2031, then a
// crash the manager hid. The look is taken as unknown (clock_skew): the
// process does not match, the manager is asked, the crash is found with
// its cause (under systemd the journal is read since the crash window,
// not since 2031, which found nothing).
func seenFutureCell() cell {
	return cell{fault: fSeenFuture,
		setup: func(t *testing.T, w *world) {
			p := w.loadPrimary(true, w.rig.systemd)
			if res := w.tick(); res.Code != 0 {
				t.Fatalf("baseline tick: exit %d\n%s", res.Code, res.Stdout)
			}
			w.plantState("guardian", func(st *state.File) {
				var seen map[string]any
				if ok, err := st.Get("service_seen", &seen); !ok || err != nil {
					t.Fatalf("the baseline tick recorded no service_seen (%v)", err)
				}
				seen["at"] = year2031
				if proc, ok := seen["process"].(map[string]any); ok {
					proc["started"] = year2031
				}
				put(t, st, "service_seen", seen)
			})
			w.crashPrimary(p)
		},
		want: want{code: 1, event: "crashed", check: "crashed", alert: delivered, then: func(t *testing.T, w *world) {
			skewed(t, w, "service_seen")
			exit := "signal 11"
			if w.rig.systemd {
				exit = "journal: last exit signal 11 (SIGSEGV)"
			}
			if !deliveredWith(w, "crashed", exit) {
				t.Errorf("the crashed alert lacks %q: %+v", exit, w.ff.Alerts())
			}
		}},
		note: "the last look dated 2031 is no look (clock_skew): the manager is asked and the crash found with its cause (the journal read over --crash-window)"}
}

func guardianManagerCells() []cell {
	return []cell{
		quietTickCell(),
		seenFutureCell(),
		{fault: fCrashLoop, args: []string{"--crash-loop", crashLoopLimit},
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimary(true, false)
				if res := w.tick(); res.Code != 0 {
					t.Fatalf("baseline tick: exit %d\n%s", res.Code, res.Stdout)
				}
				w.crashPrimary(p)
				if res := w.tick(); res.Code != 1 {
					t.Fatalf("first crash: exit %d, want 1\n%s", res.Code, res.Stdout)
				}
				w.crashPrimary(p)
			},
			want: want{code: 2, event: "crashed", check: "crashed", alert: delivered, then: func(t *testing.T, w *world) {
				if !deliveredWith(w, "crashed", "crash-looping: 2 crashes") {
					t.Errorf("no crash-loop alert: %+v", w.ff.Alerts())
				}
			}},
			note: "two crashes within --crash-window, each healed by the manager: crashed at error (crash-looping)"},
		{fault: fPromote, sim: fault(councilsim.FaultDown),
			setup: func(t *testing.T, w *world) { w.promoteColumn() },
			want: want{code: 2, event: "fallback_activated", check: "fallback_activated", alert: delivered, then: func(t *testing.T, w *world) {
				if w.rig.systemd {
					promotedSystemd(t, w)
				} else {
					promotionCalls(t, w, false)
				}
			}},
			note: "binary gone: the fallback is promoted (launchd: bootout, disable, enable, bootstrap, kickstart -k; systemd: disable --now, enable --now), verified serving; exit 2 (the primary failed)"},
		{fault: fRestore, sim: fault(councilsim.FaultDown),
			setup: func(t *testing.T, w *world) { w.prepareRestore() },
			last:  func(w *world) probetest.Result { return w.restorePrimary() },
			want: want{code: 0, event: "primary_restored", check: "fallback_activated", then: func(t *testing.T, w *world) {
				if _, err := os.Stat(filepath.Join(w.home.StateDir, "council-fallback.lock")); !os.IsNotExist(err) {
					t.Errorf("the fallback lock survived the restore: %v", err)
				}
				if w.rig.systemd {
					p, f := w.sd.Show(t, primaryUnit), w.sd.Show(t, fallbackUnit)
					if p["SubState"] != "running" || p["UnitFileState"] != "enabled" || f["ActiveState"] != "inactive" || f["UnitFileState"] != "disabled" {
						t.Errorf("after the restore: primary %v, fallback %v", p, f)
					}
				}
			}},
			note: "on the fallback with the primary fixed: restore-primary checks the binary, stops and disables the fallback, starts the primary, verifies it serves and removes the lock (exit 0)"},
		{fault: fManagerDown,
			setup: func(t *testing.T, w *world) {
				if w.rig.systemd {
					w.sd.Fail = "*=nobus"
				} else {
					w.args = append(w.args, "--launchctl", lookPath(t, "false"))
				}
			},
			want: want{code: 3, event: "service_manager_unavailable", check: "service_manager", alert: delivered, then: onlyManagerUnknown},
			note: "the primary serves but the manager cannot be asked (launchctl exits 1; no user manager): one UNKNOWN on service_manager, the crash check not judged"},
	}
}

// liarJournalCell: the primary prints, at every start, what reads like
// systemd's lines about an OOM kill; then it really dies of SIGSEGV and
// Restart= brings it back, printing the lie again, newest. The cause is
// read from systemd's own journal lines (the trusted _SYSTEMD_UNIT tells
// them from the unit's), so the alert says SIGSEGV.
func liarJournalCell() cell {
	lie := []string{"--say", `"` + primaryUnit + `: Main process exited, code=killed, status=9/KILL"`,
		"--say", `"` + primaryUnit + `: Failed with result 'oom-kill'."`}
	return cell{fault: fLiarJournal,
		setup: func(t *testing.T, w *world) {
			p := w.loadPrimary(true, true, lie...)
			if res := w.tick(); res.Code != 0 {
				t.Fatalf("baseline tick: exit %d\n%s", res.Code, res.Stdout)
			}
			w.crashPrimary(p)
		},
		want: want{code: 1, event: "crashed", check: "crashed", alert: delivered, then: func(t *testing.T, w *world) {
			if !deliveredWith(w, "crashed", "journal: last exit signal 11 (SIGSEGV)") || deliveredWith(w, "crashed", "oom-kill") || deliveredWith(w, "crashed", "signal 9") {
				t.Errorf("the crashed alert took the server's word for its death: %+v", w.ff.Alerts())
			}
		}},
		note: "the primary prints systemd's words for an OOM kill, dies of SIGSEGV and is restarted: the cause comes from systemd's own journal lines (_SYSTEMD_UNIT), so the alert says SIGSEGV"}
}

// guardianSystemdCells are the systemd column's cells of faults the
// launchd column has its own cells for (probes_test.go,
// hardening_*_test.go), and systemd's own.
func guardianSystemdCells() []cell {
	return []cell{
		liarJournalCell(),
		{fault: fHealthy, setup: func(t *testing.T, w *world) { w.loadPrimary(true, false) },
			want: want{code: 0, event: "probe_ok", check: "unreachable"}},
		{fault: fDown, sim: fault(councilsim.FaultDown), ticks: 3, args: []string{"--startup-grace", "0"},
			setup: func(t *testing.T, w *world) {
				w.sd.WriteUnit(t, primaryUnit, "the primary", "ExecStart="+lookPath(t, "sleep")+" 3600")
				w.sd.Run(t, "enable", "--now", primaryUnit)
			},
			want: want{code: 2, event: "probe_fail", check: "unreachable", alert: delivered, then: func(t *testing.T, w *world) {
				if !slices.Contains(w.sd.MutatingCalls(), sysctl("restart", primaryUnit)) {
					t.Errorf("three failures did not restart the unit: %q", w.sd.MutatingCalls())
				}
			}},
			note: "alerts after 3 failed ticks and runs systemctl --user restart; the unverified restart alerts on restart_unverified"},
		{fault: fCrashHidden,
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimary(true, w.rig.systemd)
				if res := w.tick(); res.Code != 0 {
					t.Fatalf("baseline tick: exit %d\n%s", res.Code, res.Stdout)
				}
				w.crashPrimary(p)
			},
			want: want{code: 1, event: "crashed", check: "crashed", alert: delivered, then: func(t *testing.T, w *world) {
				exit := "signal 11"
				if w.rig.systemd {
					exit = "journal: last exit signal 11 (SIGSEGV)" // Restart= reset the properties
				}
				if !deliveredWith(w, "crashed", exit, "kIOGPUCommandBufferCallbackErrorOutOfMemory") {
					t.Errorf("the crashed alert lacks %q or the log line: %+v", exit, w.ff.Alerts())
				}
				if calls := w.mutating(); slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(c, "restart") || strings.Contains(c, "kickstart") }) {
					t.Errorf("a crash the manager healed was restarted again: %q", calls)
				}
			}},
			note: "SIGSEGV after a Metal OOM line, started again by the manager, serving: crashed at warn with the signal (under systemd from the journal, the unit's properties say success again) and the line"},
		{fault: fPromoteKilled, sim: fault(councilsim.FaultDown),
			setup: func(t *testing.T, w *world) {
				w.promoteColumn()
				w.interruptedTickAt(w.fallbackPause(), syscall.SIGKILL)
				wantLockStep(t, w, w.promotionStepAfterPrimary())
			},
			want: want{code: 1, event: "fallback_activated", check: "fallback_activated", alert: delivered,
				then: func(t *testing.T, w *world) {
					if len(probetest.Find(w.events(), "promotion_resuming", "fallback_activated")) != 1 {
						t.Errorf("no promotion_resuming event:\n%s", dumpEvents(w.events()))
					}
					resumedColumn(t, w)
				}},
			note: "killed between the primary's disable and the fallback's enable: the next tick finishes the promotion, verifies and alerts (exit 1)"},
		{fault: fPromoteTerm, sim: fault(councilsim.FaultDown),
			setup: func(t *testing.T, w *world) {
				w.promoteColumn()
				if res := w.interruptedTickAt(w.fallbackPause(), syscall.SIGTERM); res.Code != 3 {
					t.Errorf("SIGTERM mid-promotion: exit %d, want 3\nstdout: %s", res.Code, res.Stdout)
				}
			},
			want: want{code: 1, event: "probe_ok", check: "fallback_down", alert: delivered, alertCheck: "fallback_activated",
				then: func(t *testing.T, w *world) {
					if lk := readLock(t, w); !lk.Done() {
						t.Errorf("the promotion was not finished: lock %+v", lk)
					}
				}},
			note: "the enable under way finishes (the manager's command is not killed), the tick exits 3, and the next finishes the promotion"},
		{fault: fWedge,
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimary(false, false)
				w.primaryFault(p, "wedge")
				w.canaryHang(2, time.Now())
			},
			want: want{code: 2, event: "wedged", check: "wedged", alert: delivered, then: func(t *testing.T, w *world) {
				if len(probetest.Find(w.events(), "restart_verified", "")) != 1 {
					t.Errorf("the restart was not verified by chat:\n%s", dumpEvents(w.events()))
				}
				if !slices.Contains(w.mutating(), sysctl("restart", primaryUnit)) && w.rig.systemd {
					t.Errorf("no systemctl restart: %q", w.mutating())
				}
			}},
			note: "canary hang x2 + idle CPU (the unit's MainPID sampled): wedged, systemctl restart, verified by a chat answer"},
		{fault: fBusy,
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimary(false, false)
				w.primaryFault(p, "busy")
				w.canaryHang(2, time.Now())
			},
			want: want{code: 0, event: "probe_skip_busy", check: "wedged", then: func(t *testing.T, w *world) {
				if calls := w.mutating(); len(calls) > 1 { // the unit's own enable --now
					t.Errorf("a busy primary was touched: %q", calls)
				}
			}},
			note: "canary hang x2 + busy CPU: left alone"},
		{fault: fRebootOnFallback, sim: fault(councilsim.FaultDown),
			setup: func(t *testing.T, w *world) { w.rebootOnFallback() },
			want: want{code: 1, event: "probe_ok", check: "fallback_down", alert: noAlert,
				then: func(t *testing.T, w *world) {
					for _, c := range w.sd.MutatingCalls() {
						t.Errorf("the guardian changed systemd while the fallback serves: %s", c)
					}
				}},
			note: "after a reboot on the fallback systemd starts the enabled fallback, not the disabled primary: the guardian sees the fallback serving"},
		{fault: fStartLimit, args: []string{"--restart-after", "1", "--startup-grace", "0"},
			setup: func(t *testing.T, w *world) { w.primaryAtStartLimit() },
			want: want{code: 2, event: "restart_verified", check: "restart_unverified", alert: delivered, alertCheck: "unreachable",
				then: func(t *testing.T, w *world) {
					calls := w.sd.MutatingCalls()
					want := []string{sysctl("reset-failed", primaryUnit), sysctl("restart", primaryUnit)}
					if !slices.Equal(calls[len(calls)-2:], want) {
						t.Errorf("systemctl calls %q, want them to end %q", calls, want)
					}
					if !deliveredWith(w, "unreachable", "start-limit-hit") {
						t.Errorf("the alert does not say the start limit was hit: %+v", w.ff.Alerts())
					}
				}},
			note: "the unit failed with Result=start-limit-hit: said in the alert; the restart runs reset-failed first, then restart, verified"},
		{fault: fNotPermitted, sim: fault(councilsim.FaultDown), ticks: 3, args: []string{"--scope", "system", "--startup-grace", "0"},
			setup: func(t *testing.T, w *world) {
				w.sd.WriteUnit(t, primaryUnit, "the primary", "ExecStart="+lookPath(t, "sleep")+" 3600")
				w.sd.Fail = "restart=denied"
			},
			want: want{code: 2, event: "restart_not_permitted", check: "restart_unverified", alert: delivered,
				then: func(t *testing.T, w *world) {
					if !deliveredWith(w, "restart_unverified", "not permitted", "polkit") {
						t.Errorf("no clear not-permitted alert: %+v", w.ff.Alerts())
					}
				}},
			note: "a system unit without root or the polkit rule: the restart is UNKNOWN \"not permitted\" with an alert saying so, never a silent no-op"},
	}
}

// interruptedTickAt is interruptedTick for the column's manager: the
// simulated systemd holds the call with FAKE_SYSTEMD_PAUSE as the fake
// launchd does with FAKE_LAUNCHD_PAUSE.
func (w *world) interruptedTickAt(pauseAt string, sig syscall.Signal) probetest.Result {
	if !w.rig.systemd {
		return w.interruptedTick(pauseAt, sig)
	}
	return w.interruptedTickWith(systemdsim.EnvPause, systemdsim.PauseFile(w.sd.StateFile), pauseAt, sig)
}

// prepareRestore lays out a host on the fallback whose primary is fixed:
// the lock (done), the primary stopped and kept from starting, the
// fallback enabled and serving; a primary binary that passes the checks.
func (w *world) prepareRestore() {
	t := w.t
	h := w.installPrimaryBinary(simBin)
	fb := w.writeColumnFallback()
	port, ctl := probetest.FreePort(t), probetest.FreePort(t)
	primaryURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	argv := []string{h.Binary, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--control", fmt.Sprintf("127.0.0.1:%d", ctl)}
	lk := fmt.Sprintf(`{"who":"council-guardian","when":"2026-01-01T00:00:00Z","why":"binary missing","pid":1,"step":"done","primary":%q,"fallback":%q}`,
		primaryLabel, fallbackLabel)
	if w.rig.systemd {
		lk = fmt.Sprintf(`{"who":"council-guardian","when":"2026-01-01T00:00:00Z","why":"binary missing","pid":1,"step":"done","primary":%q,"fallback":%q}`,
			primaryUnit, fallbackUnit)
		w.sd.WriteUnit(t, primaryUnit, "the primary (council-sim)", "ExecStart="+strings.Join(argv, " "), "Restart=always")
		w.sd.Run(t, "enable", "--now", fallbackUnit)
	} else {
		w.writePlistAt(filepath.Join(w.launchAgents(), primaryLabel+".plist"), primaryLabel, argv)
		w.launchctl("disable", domain()+"/"+primaryLabel)
		w.launchctl("enable", domain()+"/"+fallbackLabel)
		w.launchctl("bootstrap", domain(), fb.Plist)
	}
	if err := os.WriteFile(filepath.Join(w.home.StateDir, "council-fallback.lock"), []byte(lk), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(fb.PIDFile); err == nil {
			break
		}
	}
	w.args = append(w.args, "--url", primaryURL, "--primary-binary", h.Binary, "--fallback-url", fb.URL, "--verify-timeout", "20s")
}

// restorePrimary runs `council-guardian restore-primary` with the tick's
// flags, as an operator would.
func (w *world) restorePrimary() probetest.Result {
	w.t.Helper()
	argv := append(w.argv(), "restore-primary")
	res := probetest.Run(w.t, runTimeout, w.environ(), argv[0], argv[1:]...)
	w.outs = append(w.outs, res.Stdout, res.Stderr)
	return res
}

// rebootOnFallback is a reboot of a host on the fallback: the lock done,
// the primary disabled, the fallback enabled; at boot systemd starts what
// is enabled.
func (w *world) rebootOnFallback() {
	t := w.t
	fb := w.promoteColumn()
	lk := fmt.Sprintf(`{"who":"council-guardian","when":"2026-01-01T00:00:00Z","why":"binary missing","pid":1,"primary":%q,"fallback":%q,"step":"done"}`,
		primaryUnit, fallbackUnit)
	if err := os.WriteFile(filepath.Join(w.home.StateDir, "council-fallback.lock"), []byte(lk), 0o600); err != nil {
		t.Fatal(err)
	}
	w.sd.Run(t, "disable", "--now", primaryUnit)
	w.sd.Run(t, "enable", fallbackUnit)
	if err := systemdsim.Reboot(w.sd.StateFile, w.sd.Units, systemctlBin); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(fb.PIDFile); err == nil {
			break
		}
	}
	if p := w.sd.Show(t, primaryUnit); p["ActiveState"] != "inactive" {
		t.Fatalf("the disabled primary started at boot: %v", p)
	}
}

// primaryAtStartLimit leaves the primary's unit failed at its start limit
// (a program that exits 0 at once, restarted until systemd gives up:
// Result=start-limit-hit), then fixes it: the unit file now runs
// council-sim, which serves once the unit is started again.
func (w *world) primaryAtStartLimit() {
	t := w.t
	w.sd.WriteUnit(t, primaryUnit, "the primary", "ExecStart="+lookPath(t, "true"), "Restart=always", "RestartSec=20ms")
	w.sd.Run(t, "start", primaryUnit)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if w.sd.Show(t, primaryUnit)["Result"] == "start-limit-hit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unit never hit its start limit: %v", w.sd.Show(t, primaryUnit))
		}
	}
	port := probetest.FreePort(t)
	w.sd.WriteUnit(t, primaryUnit, "the primary (council-sim)", fmt.Sprintf("ExecStart=%s --listen 127.0.0.1:%d", simBin, port), "Restart=always")
	w.args = append(w.args, "--url", fmt.Sprintf("http://127.0.0.1:%d", port))
}

// installPrimaryBinary installs src as the primary's binary (with its
// metallib beside it, and signed with a fresh release key) and returns
// where things are.
func (w *world) installPrimaryBinary(src string) integrityHost {
	t := w.t
	h := primaryOf(w)
	for _, d := range []string{filepath.Dir(h.Binary), filepath.Dir(h.Priv)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	installBinary(t, src, h)
	if err := os.WriteFile(h.Metallib, []byte("metal library stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.GenerateKey(h.Priv, h.Pub); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.SignFile(h.Priv, h.Binary); err != nil {
		t.Fatal(err)
	}
	return h
}

// writePlistAt writes a launchd plist for label running argv, KeepAlive,
// not at load.
func (w *world) writePlistAt(path, label string, argv []string) {
	w.t.Helper()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>` + label + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range argv {
		b.WriteString("\t\t<string>" + a + "</string>\n")
	}
	b.WriteString("\t</array>\n\t<key>RunAtLoad</key><false/>\n\t<key>KeepAlive</key><true/>\n</dict>\n</plist>\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// --- integrity under systemd -------------------------------------------------

func integritySystemdCells() []cell {
	useFallback := func(t *testing.T, w *world) {
		fb := w.writeFallbackUnit()
		w.args = append(w.args, "--fallback-url", fb.URL)
	}
	return []cell{
		{fault: fHealthy, want: want{code: 0, event: "check_ok", check: "stale_process",
			then: func(t *testing.T, w *world) {
				if e := findEvents(w.events(), "check_ok", "stale_process"); len(e) == 0 || e[0]["pid_source"] != "service" {
					t.Errorf("the pid does not come from systemd: %v", e)
				}
			}},
			note: "the running primary is the unit's MainPID"},
		{fault: fBinMissing,
			setup: func(t *testing.T, w *world) { os.Remove(primaryOf(w).Binary); useFallback(t, w) },
			want:  want{code: 2, event: "check_failed", check: "binary_missing", alert: delivered, then: func(t *testing.T, w *world) { promoted(t, w); promotedSystemd(t, w) }},
			note:  "promotes the fallback: disable --now the primary, enable --now the fallback, verified serving"},
		{fault: fBinRebuilt,
			setup: func(t *testing.T, w *world) {
				h := primaryOf(w)
				installBinary(t, lookPath(t, "sleep"), h)
				if _, err := signing.SignFile(h.Priv, h.Binary); err != nil {
					t.Fatal(err)
				}
			},
			want: failing(2, "check_failed", "stale_process"),
			note: "rebuilt but the unit not restarted: its MainPID runs the old inode"},
		{fault: fMetallib, setup: func(t *testing.T, w *world) { os.Remove(primaryOf(w).Metallib) },
			want: want{code: 0, event: "check_not_applicable", check: "metallib_missing"},
			note: "no Metal on Linux: not applicable, shown as such, never a failure"},
		{fault: fPromoteKilled,
			setup: func(t *testing.T, w *world) {
				os.Remove(primaryOf(w).Binary)
				useFallback(t, w)
				w.interruptedTickAt("enable --now "+fallbackUnit, syscall.SIGKILL)
				wantLockStep(t, w, systemctl.StepPrimaryDisabled)
			},
			want: want{code: 2, event: "fallback_activated", check: "fallback_activated", alert: delivered,
				then: func(t *testing.T, w *world) { resumedColumn(t, w) }},
			note: "killed between the primary's disable --now and the fallback's enable --now: the next tick finishes it"},
		{fault: fManagerDown, setup: func(t *testing.T, w *world) { w.sd.Fail = "*=nobus" },
			want: want{code: 3, event: "service_manager_unavailable", check: "service_manager", alert: delivered, then: onlyManagerUnknown},
			note: "no user manager: one UNKNOWN on service_manager; stale_process not judged"},
		{fault: fNotPermitted, args: []string{"--scope", "system"},
			setup: func(t *testing.T, w *world) {
				os.Remove(primaryOf(w).Binary)
				useFallback(t, w)
				w.sd.Fail = "disable=denied"
			},
			want: want{code: 2, event: "promote_not_permitted", check: "fallback_down", alert: delivered, alertCheck: "fallback_down"},
			note: "binary gone, the promotion refused for want of privilege: UNKNOWN \"not permitted\" on fallback_down (the tick is CRITICAL: the binary is missing)"},
	}
}

// --- drift under systemd -----------------------------------------------------

func driftSystemdCells() []cell {
	return []cell{
		{fault: fHealthy, want: want{code: 0, event: "agent_loaded", check: "agent_not_loaded:*",
			then: func(t *testing.T, w *world) {
				if len(findEvents(w.events(), "fallback_disciplined", "fallback_race")) != 1 {
					t.Errorf("no fallback_disciplined:\n%s", dumpEvents(w.events()))
				}
			}}},
		{fault: fAgentNotLoaded, setup: func(t *testing.T, w *world) { w.sd.Run(t, "stop", primaryUnit) },
			want: failing(2, "agent_not_loaded", "agent_not_loaded:*"),
			note: "the primary's unit loaded but not active"},
		{fault: fFallbackRace, setup: func(t *testing.T, w *world) { w.sd.Run(t, "enable", fallbackUnit) },
			want: failing(2, "fallback_race", "fallback_race"),
			note: "systemd has the fallback's unit enabled: it would start at boot beside the primary"},
		{fault: fManagerDown, setup: func(t *testing.T, w *world) { w.sd.Fail = "*=nobus" },
			want: want{code: 3, event: "service_manager_unavailable", check: "service_manager", alert: delivered, then: onlyManagerUnknown},
			note: "no user manager: one UNKNOWN on service_manager, not one per unit"},
	}
}
