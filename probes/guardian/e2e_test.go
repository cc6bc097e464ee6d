package guardian_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/lock"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// accessLine is a completed chat request in the council's access-log format.
func accessLine(at time.Time) string {
	return at.UTC().Format("2006-01-02T15:04:05.000Z") + " INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=41234"
}

// A healthy council: exit 0, probe_ok with the transport in use, no
// launchctl call, and the token nowhere in the output or files.
func TestHealthyOverBearerAndMTLS(t *testing.T) {
	tests := []struct {
		name          string
		certs         bool
		wantTransport string
	}{
		{"bearer", false, "bearer"},
		{"mtls", true, "mtls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.h.WithToken(0o600)
			if tt.certs {
				r.h.WithCerts("guardian")
			}
			sim := r.h.Sim(nil)
			args := []string{"--url", sim.PlainURL()}
			if tt.certs {
				args = append(args, "--mtls-url", sim.MTLSURL())
			}
			res := r.run(args...)
			wantCode(t, res, 0)
			ev := one(t, r.events(), "probe_ok", "unreachable")
			if ev["transport"] != tt.wantTransport || ev["http_status"] != 200.0 || ev["consecutive"] != 0.0 {
				t.Errorf("probe_ok = %v, want transport %s, http_status 200, consecutive 0", ev, tt.wantTransport)
			}
			if _, ok := ev["probe_ms"]; !ok {
				t.Errorf("probe_ok has no probe_ms: %v", ev)
			}
			if !strings.Contains(res.Stdout, "COUNCIL GUARDIAN OK - 1 model(s)") || !strings.Contains(res.Stdout, "over "+tt.wantTransport) {
				t.Errorf("status line: %q", res.Stdout)
			}
			wantCalls(t, r.mutating(0)) // reading launchd (print) is a check, not a change
			noLeaks(t, r, res.Stdout, res.Stderr)
		})
	}
}

// Every way the liveness probe can fail is detected on the first tick
// (warn below the restart threshold), including a hang, which is cut off
// by --timeout rather than waited out.
func TestFailuresDetected(t *testing.T) {
	tests := []struct {
		name       string
		fault      councilsim.Fault
		model      string
		wantReason string
		wantStatus float64
	}{
		{"hang_all", councilsim.FaultHangAll, "", "timeout", 0},
		{"down", councilsim.FaultDown, "", "connect", 0},
		{"html 200", councilsim.FaultHTML, "", "html", 200},
		{"empty 200", councilsim.FaultEmpty, "", "not_json", 200},
		{"500", councilsim.Fault500, "", "status", 500},
		{"expected model missing", councilsim.FaultNone, "council-70b", "model_missing", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.h.WithToken(0o600)
			sim := r.h.Sim(func(c *councilsim.Config) { c.Fault = tt.fault })
			args := []string{"--url", sim.PlainURL(), "--timeout", "1s"}
			if tt.model != "" {
				args = append(args, "--model", tt.model)
			}
			res := r.run(args...)
			wantCode(t, res, 1)
			ev := one(t, r.events(), "probe_fail", "unreachable")
			if ev["reason"] != tt.wantReason || ev["http_status"] != tt.wantStatus || ev["consecutive"] != 1.0 || ev["transport"] != "bearer" || ev["level"] != "warn" {
				t.Errorf("probe_fail = %v, want reason %s, http_status %v, consecutive 1, bearer, warn", ev, tt.wantReason, tt.wantStatus)
			}
			if tt.wantReason == "timeout" {
				if ms, _ := ev["probe_ms"].(float64); ms < 1000 {
					t.Errorf("timeout reported after %vms, before the 1s budget", ms)
				}
			}
			none(t, r.events(), "restarting")
			wantCalls(t, r.ld.Calls())
			noLeaks(t, r, res.Stdout, res.Stderr)
		})
	}
}

// The simulator, run by the fake launchd, is killed: ticks 1 and 2 fail
// without remediation, tick 3 restarts exactly once and verifies the heal
// (the fake launchd really starts the simulator again), tick 4 is healthy.
func TestKilledPrimaryIsRestartedOnceAndHealVerified(t *testing.T) {
	for _, mtls := range []bool{false, true} {
		name := map[bool]string{false: "bearer", true: "mtls"}[mtls]
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			r.h.WithToken(0o600)
			if mtls {
				r.h.WithCerts("guardian")
			}
			prim := r.loadPrimary(mtls)
			r.args = append(r.args, "--url", prim.URL)
			if mtls {
				r.args = append(r.args, "--mtls-url", prim.MTLSURL)
			}
			setup := len(r.ld.Calls())

			wantCode(t, r.run(), 0)
			wantCalls(t, r.mutating(setup))
			// A healthy tick only reads launchd (print: did it restart the
			// primary by itself?); it changes nothing.
			for _, c := range r.ld.Calls()[setup:] {
				if c != "print "+service(primaryLabel) {
					t.Fatalf("a healthy tick ran launchctl %s", c)
				}
			}

			r.kill(prim)
			for i := 1; i <= 2; i++ {
				wantCode(t, r.run(), 1)
				wantCalls(t, r.mutating(setup))
			}
			res := r.run()
			wantCode(t, res, 2)
			wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))

			evs := r.events()
			fails := probetest.Find(evs, "probe_fail", "unreachable")
			if len(fails) != 3 || fails[2]["consecutive"] != 3.0 || fails[2]["level"] != "error" || fails[2]["transport"] != name {
				t.Fatalf("probe_fail events:\n%s", dump(fails))
			}
			restarting := one(t, evs, "restarting", "unreachable")
			if a, _ := restarting["action"].(string); !strings.HasSuffix(a, "kickstart -k "+service(primaryLabel)) {
				t.Errorf("restarting action = %q", a)
			}
			if ev := one(t, evs, "restart_requested", "unreachable"); ev["rc"] != 0.0 || ev["action"] != restarting["action"] {
				t.Errorf("restart_requested = %v", ev)
			}
			one(t, evs, "restart_verified", "restart_unverified")
			if got := r.ff.AlertsFor("unreachable"); len(got) != 2 || got[0].Severity != "error" || got[1].Severity != "info" {
				t.Errorf("alerts: want unreachable (error) then its recovery, got %+v", got)
			}

			wantCode(t, r.run(), 0)
			wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
			if got := probetest.Find(r.events(), "probe_ok", "unreachable"); len(got) != 2 || got[1]["transport"] != name {
				t.Errorf("probe_ok after the heal:\n%s", dump(got))
			}
			noLeaks(t, r, res.Stdout, res.Stderr)
		})
	}
}

// A primary that never comes back: each failing tick restarts it (each
// unverified), and the 4th restart inside 300 s is refused: critical
// rate_limit alert, exit 2, no kickstart.
func TestRestartRateLimit(t *testing.T) {
	r := newRig(t)
	plist := r.primaryPlist()
	writePlist(t, plist, plistOpts{label: primaryLabel, args: []string{"/bin/sleep", "600"}, runAtLoad: boolp(true)})
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", uid), plist)
	setup := len(r.ld.Calls())
	r.args = append(r.args, "--url", deadURL(t), "--restart-after", "1", "--verify-timeout", "500ms")

	for i := 1; i <= 3; i++ {
		res := r.run()
		wantCode(t, res, 2)
		if n := len(probetest.Find(r.events(), "restart_unverified", "restart_unverified")); n != i {
			t.Fatalf("tick %d: %d restart_unverified events\n%s", i, n, dump(r.events()))
		}
	}
	kick := "kickstart -k " + service(primaryLabel)
	wantCalls(t, r.mutating(setup), kick, kick, kick)
	if got := r.ff.AlertsFor("restart_unverified"); len(got) != 1 || got[0].Severity != "error" {
		t.Errorf("restart_unverified alerts (cooldown holds repeats): %+v", got)
	}

	res := r.run()
	wantCode(t, res, 2)
	wantCalls(t, r.mutating(setup), kick, kick, kick)
	ev := one(t, r.events(), "rate_limit", "rate_limit")
	if ev["level"] != "critical" || ev["restarts"] != 3.0 {
		t.Errorf("rate_limit event = %v", ev)
	}
	got := r.ff.AlertsFor("rate_limit")
	if len(got) != 1 || got[0].Severity != "critical" || !strings.Contains(got[0].Message, "a human is needed") {
		t.Errorf("rate_limit alerts = %+v", got)
	}
	if !strings.Contains(res.Stdout, "COUNCIL GUARDIAN CRITICAL") {
		t.Errorf("status line: %q", res.Stdout)
	}
}

// A failed probe while the primary's log shows a chat request completed in
// the last 90 s is not escalated; once that request is older than the
// window, the same failure counts.
func TestBusyPrimaryIsNotEscalated(t *testing.T) {
	r := newRig(t)
	r.args = append(r.args, "--url", deadURL(t), "--restart-after", "1")
	r.appendLog(accessLine(time.Now().Add(-20 * time.Second)))

	res := r.run()
	wantCode(t, res, 0)
	ev := one(t, r.events(), "probe_skip_busy", "unreachable")
	if age, _ := ev["age_ms"].(float64); age < 20000 || age > 90000 {
		t.Errorf("probe_skip_busy age_ms = %v, want about 20000", ev["age_ms"])
	}
	if ev["reason"] != "connect" {
		t.Errorf("probe_skip_busy = %v", ev)
	}
	none(t, r.events(), "probe_fail")
	none(t, r.events(), "restarting")
	wantCalls(t, r.ld.Calls())

	// The same log read with a 10 s window is no longer busy: the failure
	// counts and escalates (the label is not loaded, so the restart fails).
	res = r.run("--busy-window", "10s")
	wantCode(t, res, 2)
	one(t, r.events(), "probe_fail", "unreachable")
	one(t, r.events(), "restarting", "unreachable")
	if ev := one(t, r.events(), "restart_failed", "restart_unverified"); ev["rc"] != 113.0 {
		t.Errorf("restart_failed = %v, want rc 113 (label not loaded)", ev)
	}
}

// What makes the primary "never serve", each promoting the fallback
// instead of restarting it: the exact launchctl sequence, the lock with
// who/when/why, a warn fallback_activated alert that says why, and the
// fallback really serving. A second run with the lock present watches the
// fallback and never promotes again; with the fallback down too it calls
// for a human and still changes nothing.
func TestNeverServingPrimaryPromotesFallbackOnce(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(r *rig) // makes the primary unservable
		wantWhy string
	}{
		{"metallib signature in the log", func(r *rig) {
			r.appendLog(accessLine(time.Now().Add(-time.Hour)), "2026-04-20T03:12:44Z ERROR MLX: Failed to load the default metallib. library not found")
		}, "Failed to load the default metallib"},
		{"manifest signature in the log", func(r *rig) {
			r.appendLog("2026-04-20T03:12:44Z ERROR manifest verification failed: model-00003.safetensors sha256 mismatch")
		}, "manifest verification failed"},
		{"primary binary missing", func(r *rig) {
			r.args = append(r.args, "--primary-binary", filepath.Join(r.h.Dir, "sanctum-mlx-gone"))
		}, "binary missing"},
		{"primary binary not executable", func(r *rig) {
			p := filepath.Join(r.h.Dir, "sanctum-mlx")
			os.WriteFile(p, []byte("not a binary"), 0o644)
			r.args = append(r.args, "--primary-binary", p)
		}, "is not executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.h.WithToken(0o600)
			prim := r.loadPrimary(false)
			r.kill(prim)
			fb := r.writeFallback()
			setup := len(r.ld.Calls())
			r.args = append(r.args, "--url", prim.URL, "--fallback-url", fb.URL, "--restart-after", "1")
			tt.prepare(r)

			res := r.run()
			wantCode(t, res, 2)
			wantCalls(t, r.mutating(setup),
				"bootout "+service(primaryLabel),
				"disable "+service(primaryLabel),
				"enable "+service(fallbackLabel),
				fmt.Sprintf("bootstrap gui/%d %s", uid, r.fallbackPlist()),
				"kickstart -k "+service(fallbackLabel))
			// A reboot must not start the broken primary beside the
			// fallback: launchd's override database says so.
			if d := r.disabled(); !d[primaryLabel] {
				t.Errorf("primary not disabled in launchd after the promotion: %v", d)
			}
			evs := r.events()
			none(t, evs, "restarting")
			if ev := one(t, evs, "fallback_activated", "fallback_activated"); !strings.Contains(fmt.Sprint(ev["why"]), tt.wantWhy) {
				t.Errorf("fallback_activated = %v, want why containing %q", ev, tt.wantWhy)
			}
			lk := r.readLock()
			if lk.Who != "council-guardian" || !strings.Contains(lk.Why, tt.wantWhy) || time.Since(lk.When) > time.Hour || lk.Fallback != fallbackLabel {
				t.Errorf("fallback lock = %+v", lk)
			}
			alerts := r.ff.AlertsFor("fallback_activated")
			if len(alerts) != 1 || alerts[0].Severity != "warn" || !strings.Contains(alerts[0].Message, tt.wantWhy) ||
				!strings.Contains(alerts[0].Message, "restore-primary") {
				t.Errorf("fallback_activated alerts = %+v", alerts)
			}
			r.waitServing(fb.URL)

			// Second run: on fallback; it is watched, nothing promoted.
			promoted := len(r.ld.Calls())
			res = r.run()
			wantCode(t, res, 1)
			if got := r.mutating(promoted); len(got) != 0 {
				t.Fatalf("second run changed launchd: %v", got)
			}
			ev := one(t, r.events(), "probe_ok", "fallback_down")
			if ev["target"] != "fallback" || ev["fallback_transport"] != "bearer" {
				t.Errorf("fallback probe_ok = %v", ev)
			}
			if len(probetest.Find(r.events(), "promoting_fallback", "")) != 1 {
				t.Errorf("promoted again:\n%s", dump(r.events()))
			}
			if !strings.Contains(res.Stdout, "COUNCIL GUARDIAN WARNING - serving from fallback") {
				t.Errorf("status line: %q", res.Stdout)
			}

			// Both down: critical, exit 2, still nothing promoted.
			r.kill(fb)
			res = r.run()
			wantCode(t, res, 2)
			if got := r.mutating(promoted); len(got) != 0 {
				t.Fatalf("run with both down changed launchd: %v", got)
			}
			if ev := one(t, r.events(), "probe_fail", "fallback_down"); ev["level"] != "critical" {
				t.Errorf("fallback probe_fail = %v", ev)
			}
			down := r.ff.AlertsFor("fallback_down")
			if len(down) != 1 || down[0].Severity != "critical" || !strings.Contains(down[0].Message, "nothing promoted") {
				t.Errorf("fallback_down alerts = %+v", down)
			}
			noLeaks(t, r, res.Stdout, res.Stderr)
		})
	}
}

// Bootstrapping the fallback fails once with launchd's "5: Input/output
// error": the recipe boots the label out and retries, and the promotion
// is verified.
func TestPromotionRecoversFromBootstrapEIO(t *testing.T) {
	r := newRig(t)
	fb := r.writeFallback()
	r.args = append(r.args, "--url", deadURL(t), "--fallback-url", fb.URL, "--restart-after", "1")
	r.appendLog("Segmentation fault: 11")
	r.env = append(r.env, "FAKE_LAUNCHD_FAIL=bootstrap="+"eio-once")

	wantCode(t, r.run(), 2)
	bootstrap := fmt.Sprintf("bootstrap gui/%d %s", uid, r.fallbackPlist())
	wantCalls(t, r.mutating(0),
		"bootout "+service(primaryLabel), // not loaded: tolerated
		"disable "+service(primaryLabel),
		"enable "+service(fallbackLabel),
		bootstrap, // EIO
		"bootout "+service(fallbackLabel),
		bootstrap,
		"kickstart -k "+service(fallbackLabel))
	ev := one(t, r.events(), "fallback_activated", "fallback_activated")
	if ev["verify_attempts"] == nil || ev["verify_attempts"].(float64) < 1 {
		t.Errorf("fallback_activated = %v", ev)
	}
	r.waitServing(fb.URL)
}

// Two guardians (separate state, same home, same fallback and remediation
// locks) find the same never-serving primary at the same time: exactly
// one promotes.
func TestRacingGuardiansPromoteOnce(t *testing.T) {
	r := newRig(t)
	fb := r.writeFallback()
	r.appendLog("2026-04-20T03:12:44Z ERROR signature invalid for sanctum-mlx")
	args := append(append([]string(nil), r.args...), "--url", deadURL(t), "--fallback-url", fb.URL, "--restart-after", "1")

	const n = 2
	var wg sync.WaitGroup
	codes := make([]int, n)
	logs := make([]string, n)
	for i := range n {
		logs[i] = filepath.Join(r.h.LogDir, fmt.Sprintf("guardian-%d.log", i))
		cmd := exec.Command(guardianBin, append(args,
			"--state-dir", filepath.Join(r.h.Dir, fmt.Sprintf("state-%d", i)), "--log-file", logs[i])...)
		cmd.Env = r.environ()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					codes[i] = ee.ExitCode()
				} else {
					codes[i] = -1
				}
			}
		}()
	}
	wg.Wait()

	var activated, lost int
	for i := range n {
		evs := probetest.Events(t, logs[i])
		activated += len(probetest.Find(evs, "fallback_activated", ""))
		lost += len(probetest.Find(evs, "fallback_already_active", "")) + len(probetest.Find(evs, "probe_ok", "fallback_down"))
		if codes[i] != 2 && codes[i] != 1 {
			t.Errorf("guardian %d exit %d\n%s", i, codes[i], dump(evs))
		}
	}
	for i := range n {
		for _, e := range probetest.Events(t, logs[i]) {
			if e["event"] == "fallback_activated" || e["event"] == "fallback_already_active" || e["check"] == "fallback_down" {
				t.Logf("guardian %d: %s %s", i, e["event"], e["check"])
			}
		}
	}
	if activated != 1 || lost != 1 {
		t.Fatalf("fallback_activated %d times, lost race %d times; want 1 and 1", activated, lost)
	}
	var enables, bootstraps int
	for _, c := range r.mutating(0) {
		enables += strings.Count(c, "enable ")
		bootstraps += strings.Count(c, "bootstrap ")
	}
	if enables != 1 || bootstraps != 1 {
		t.Fatalf("launchd calls (want one enable, one bootstrap):\n%s", strings.Join(r.mutating(0), "\n"))
	}
	if got := r.ff.AlertsFor("fallback_activated"); len(got) != 1 {
		t.Errorf("fallback_activated alerts = %d, want 1", len(got))
	}
	r.readLock()
}

// --dry-run: the checks run, remediation prints the exact argv and alerts
// print the request; launchd, the lock and Force Flow are untouched.
func TestDryRun(t *testing.T) {
	t.Run("restart", func(t *testing.T) {
		r := newRig(t)
		r.args = append(r.args, "--url", deadURL(t), "--restart-after", "1", "--dry-run")
		// The unreachable channel's threshold follows --restart-after: the
		// first failure both restarts and alerts.
		res := r.run()
		wantCode(t, res, 2)
		if want := "dry-run: " + launchctlBin + " kickstart -k " + service(primaryLabel); !strings.Contains(res.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.Stdout)
		}
		if !strings.Contains(res.Stdout, "dry-run: would send alert") {
			t.Errorf("alert request not printed:\n%s", res.Stdout)
		}
		for range 2 {
			res = r.run()
			wantCode(t, res, 2)
		}
		wantCalls(t, r.mutating(0)) // reading launchd (print) is a check, not a change
		if len(r.ff.Alerts()) != 0 {
			t.Errorf("alerts sent in dry-run: %+v", r.ff.Alerts())
		}
		// Nothing restarted, so nothing counts against the rate limit.
		if st, _ := os.ReadFile(r.h.StateFile("guardian")); strings.Contains(string(st), "restart_history") {
			t.Errorf("dry-run recorded a restart:\n%s", st)
		}
	})
	t.Run("promote", func(t *testing.T) {
		r := newRig(t)
		r.writeFallback()
		r.args = append(r.args, "--url", deadURL(t), "--restart-after", "1", "--dry-run")
		r.appendLog("Out of memory")
		res := r.run()
		wantCode(t, res, 2)
		for _, want := range []string{
			launchctlBin + " bootout " + service(primaryLabel),
			launchctlBin + " disable " + service(primaryLabel),
			launchctlBin + " enable " + service(fallbackLabel),
			fmt.Sprintf("%s bootstrap gui/%d %s", launchctlBin, uid, r.fallbackPlist()),
			launchctlBin + " kickstart -k " + service(fallbackLabel),
			"dry-run: write fallback lock " + r.fallbackLock(),
		} {
			if !strings.Contains(res.Stdout, "dry-run: "+strings.TrimPrefix(want, "dry-run: ")) {
				t.Errorf("stdout lacks %q:\n%s", want, res.Stdout)
			}
		}
		if !strings.Contains(res.Stdout, "dry-run: would send alert") || !strings.Contains(res.Stdout, "fallback_activated") {
			t.Errorf("fallback_activated alert request not printed:\n%s", res.Stdout)
		}
		wantCalls(t, r.mutating(0)) // reading launchd (print) is a check, not a change
		if len(r.ff.Alerts()) != 0 {
			t.Errorf("alerts sent in dry-run: %+v", r.ff.Alerts())
		}
		if _, err := os.Stat(r.fallbackLock()); err == nil {
			t.Error("dry-run wrote the fallback lock")
		}
	})
}

// restore-primary switches back: refuses a broken binary without touching
// anything, prints the argv in dry-run, then boots out and disables the
// fallback, enables the primary the promotion disabled, reloads it,
// verifies it and removes the lock; the next tick watches the primary
// again.
func TestRestorePrimary(t *testing.T) {
	r := newRig(t)
	r.h.WithToken(0o600)
	prim := r.loadPrimary(false)
	r.kill(prim)
	fb := r.writeFallback()
	r.args = append(r.args, "--url", prim.URL, "--fallback-url", fb.URL, "--restart-after", "1")
	r.appendLog("2026-04-20T03:12:44Z ERROR Failed to load the default metallib")
	wantCode(t, r.run(), 2)
	r.readLock()
	r.waitServing(fb.URL)

	t.Run("broken binary refused", func(t *testing.T) {
		before := len(r.ld.Calls())
		res := r.run("--primary-binary", filepath.Join(r.h.Dir, "missing"), "restore-primary")
		wantCode(t, res, 2)
		if !strings.Contains(res.Stderr, "primary check failed") || !strings.Contains(res.Stderr, "nothing was changed") {
			t.Errorf("stderr: %s", res.Stderr)
		}
		wantCalls(t, r.mutating(before))
		r.readLock()
	})
	for _, args := range [][]string{{"restore-primary", "--dry-run"}, {"--dry-run", "restore-primary"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			before := len(r.ld.Calls())
			res := r.run(args...)
			wantCode(t, res, 0)
			for _, want := range []string{
				"dry-run: " + launchctlBin + " bootout " + service(fallbackLabel),
				"dry-run: " + launchctlBin + " disable " + service(fallbackLabel),
				"dry-run: " + launchctlBin + " enable " + service(primaryLabel),
				fmt.Sprintf("dry-run: %s bootstrap gui/%d %s", launchctlBin, uid, r.primaryPlist()),
				"dry-run: " + launchctlBin + " kickstart -k " + service(primaryLabel),
				"dry-run: if " + primaryLabel + " does not serve: roll back to " + fallbackLabel,
				"dry-run: remove fallback lock",
			} {
				if !strings.Contains(res.Stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, res.Stdout)
				}
			}
			wantCalls(t, r.mutating(before))
			r.readLock()
		})
	}
	t.Run("missing primary plist is a configuration error", func(t *testing.T) {
		before := len(r.ld.Calls())
		res := r.run("restore-primary", "--primary-plist", filepath.Join(r.h.Dir, "nope.plist"))
		wantCode(t, res, 3)
		wantCalls(t, r.mutating(before))
	})
	t.Run("restore", func(t *testing.T) {
		before := len(r.ld.Calls())
		res := r.run("restore-primary")
		wantCode(t, res, 0)
		wantCalls(t, r.mutating(before),
			"bootout "+service(fallbackLabel),
			"disable "+service(fallbackLabel),
			"enable "+service(primaryLabel),
			"bootout "+service(primaryLabel),
			fmt.Sprintf("bootstrap gui/%d %s", uid, r.primaryPlist()),
			"kickstart -k "+service(primaryLabel))
		if _, err := os.Stat(r.fallbackLock()); !os.IsNotExist(err) {
			t.Errorf("fallback lock still there: %v", err)
		}
		if d := r.disabled(); d[primaryLabel] || !d[fallbackLabel] {
			t.Errorf("launchd overrides after the restore: %v, want the primary enabled and the fallback disabled", d)
		}
		one(t, r.events(), "primary_restored", "fallback_activated")
		noLeaks(t, r, res.Stdout, res.Stderr)
	})
	t.Run("next tick watches the primary", func(t *testing.T) {
		before := len(r.ld.Calls())
		wantCode(t, r.run(), 0)
		wantCalls(t, r.mutating(before))
		// The old metallib line is still in the log tail, but the primary
		// has served since: it must not promote on the next failure.
		r.kill(prim)
		wantCode(t, r.run(), 2)
		if n := len(probetest.Find(r.events(), "promoting_fallback", "")); n != 1 {
			t.Fatalf("promoted again on a stale signature:\n%s", dump(r.events()))
		}
		one(t, r.events(), "restart_verified", "restart_unverified")
	})
}

// A guardian tick that finds the fallback lock while another probe still
// holds the remediation lock (the promotion is under way: the lock file is
// written before the fallback starts) waits for it instead of calling the
// not-yet-started fallback down.
func TestFallbackWatchWaitsForPromotionInProgress(t *testing.T) {
	r := newRig(t)
	port := probetest.FreePort(t)
	fallbackURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	os.WriteFile(r.fallbackLock(), []byte(`{"who":"council-integrity","when":"2026-04-20T03:12:44Z","why":"binary missing","pid":1}`+"\n"), 0o600)
	held, err := lock.Acquire(ctxT(t), filepath.Join(r.h.StateDir, "council-remediation.lock"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(guardianBin, append(r.args, "--url", deadURL(t), "--fallback-url", fallbackURL, "--verify-timeout", "60s")...)
	cmd.Env = r.environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	time.Sleep(300 * time.Millisecond) // let the tick reach the remediation lock
	r.h.Sim(func(c *councilsim.Config) { c.PlainAddr = fmt.Sprintf("127.0.0.1:%d", port) })
	held.Release()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want 1 (serving from the fallback)\n%s", err, dump(r.events()))
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("guardian did not finish")
	}
	one(t, r.events(), "probe_ok", "fallback_down")
	wantCalls(t, r.ld.Calls())
}

// SIGTERM during the verify loop of a restart ends the tick at once with
// UNKNOWN: the restart is counted against the rate limit, but the
// interrupted verify is no verdict (no restart_unverified alert).
func TestSIGTERMDuringVerify(t *testing.T) {
	r := newRig(t)
	plist := r.primaryPlist()
	writePlist(t, plist, plistOpts{label: primaryLabel, args: []string{"/bin/sleep", "600"}, runAtLoad: boolp(true)})
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", uid), plist)
	cmd := exec.Command(guardianBin, append(r.args, "--url", deadURL(t), "--restart-after", "1", "--verify-timeout", "5m")...)
	cmd.Env = r.environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for len(probetest.Find(readEvents(r.h.LogFile("guardian")), "restart_requested", "")) == 0 &&
		len(probetest.Find(readEvents(r.h.LogFile("guardian")), "restarting", "")) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no restarting event")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // into the verify loop
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			t.Fatalf("exit: %v, want 3\n%s", err, dump(r.events()))
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("SIGTERM did not end the tick")
	}
	evs := r.events()
	one(t, evs, "tick_cancelled", "")
	none(t, evs, "restart_unverified")
	if len(r.ff.AlertsFor("restart_unverified")) != 0 {
		t.Error("an interrupted verify alerted")
	}
	if st, _ := os.ReadFile(r.h.StateFile("guardian")); !strings.Contains(string(st), "restart_history") {
		t.Errorf("the kickstart that ran was not counted:\n%s", st)
	}
}

// readEvents is probetest.Events without failing on a missing file.
func readEvents(path string) []map[string]any {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var evs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			evs = append(evs, m)
		}
	}
	return evs
}

// A restored primary that does not serve is rolled back under the same
// remediation lock: exit 2 with an error that says so, the primary booted
// out and disabled again, the fallback enabled, started and serving, the
// fallback lock kept so the guardian goes on watching the fallback.
func TestRestorePrimaryUnverifiedRollsBack(t *testing.T) {
	r := newRig(t)
	writePlist(t, r.primaryPlist(), plistOpts{label: primaryLabel, args: []string{"/bin/sleep", "600"}, runAtLoad: boolp(true)})
	fb := r.writeFallback()
	os.WriteFile(r.fallbackLock(), []byte(`{"who":"council-guardian","when":"2026-04-20T03:12:44Z","why":"test","pid":1}`+"\n"), 0o600)
	// As a promotion left launchd: the primary disabled, the fallback on.
	r.launchctl("disable", service(primaryLabel))
	r.launchctl("enable", service(fallbackLabel))
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", uid), fb.Plist)
	r.launchctl("kickstart", service(fallbackLabel))
	r.waitServing(fb.URL)
	before := len(r.ld.Calls())

	// The budget is the primary's and, after the rollback, the restarted
	// fallback's: generous, it only bounds a hang.
	res := r.run("--url", deadURL(t), "--fallback-url", fb.URL, "--verify-timeout", "5s", "restore-primary")
	wantCode(t, res, 2)
	for _, want := range []string{"not serving", "rolled back", "fallback lock kept", "serving again"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, res.Stderr)
		}
	}
	wantCalls(t, r.mutating(before),
		"bootout "+service(fallbackLabel),
		"disable "+service(fallbackLabel),
		"enable "+service(primaryLabel),
		"bootout "+service(primaryLabel), // not loaded
		fmt.Sprintf("bootstrap gui/%d %s", uid, r.primaryPlist()),
		"kickstart -k "+service(primaryLabel),
		"bootout "+service(primaryLabel),
		"disable "+service(primaryLabel),
		"enable "+service(fallbackLabel),
		fmt.Sprintf("bootstrap gui/%d %s", uid, fb.Plist),
		"kickstart -k "+service(fallbackLabel))
	if d := r.disabled(); !d[primaryLabel] || d[fallbackLabel] {
		t.Errorf("launchd overrides after the rollback: %v, want the primary disabled and the fallback enabled", d)
	}
	r.readLock()
	r.waitServing(fb.URL)
	if ev := one(t, r.events(), "restore_failed", "fallback_activated"); ev["rolled_back"] != true {
		t.Errorf("restore_failed = %v, want rolled_back true", ev)
	}
	// The next tick finds the fallback serving.
	wantCode(t, r.run("--url", deadURL(t), "--fallback-url", fb.URL), 1)
	one(t, r.events(), "probe_ok", "fallback_down")
}

// A primary launchd started moments ago is still loading: failures count and
// alert, but it is not restarted until it is older than --startup-grace.
func TestStartupGraceDefersRestart(t *testing.T) {
	r := newRig(t)
	plist := r.primaryPlist()
	writePlist(t, plist, plistOpts{label: primaryLabel, args: []string{"/bin/sleep", "600"}, runAtLoad: boolp(true)})
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", uid), plist)
	setup := len(r.ld.Calls())
	r.args = append(r.args, "--url", deadURL(t), "--restart-after", "1", "--verify-timeout", "500ms")

	res := r.run("--startup-grace", "1h")
	wantCode(t, res, 2)
	wantCalls(t, r.mutating(setup))
	ev := one(t, r.events(), "probe_skip_starting", "unreachable")
	if age, _ := ev["age_ms"].(float64); age < 0 || age > 60_000 || ev["pid"] == nil {
		t.Errorf("probe_skip_starting = %v", ev)
	}
	if got := r.ff.AlertsFor("unreachable"); len(got) != 1 || got[0].Severity != "error" {
		t.Errorf("the failure must still alert: %+v", got)
	}

	// Past the grace (here: grace off) the same primary is restarted.
	wantCode(t, r.run("--startup-grace", "0"), 2)
	wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
}

// A restart takes the shared remediation lock: while another probe holds it
// (a promotion in progress), the guardian does not kickstart; it defers to
// the next tick.
func TestRestartWaitsForTheRemediationLock(t *testing.T) {
	r := newRig(t)
	plist := r.primaryPlist()
	writePlist(t, plist, plistOpts{label: primaryLabel, args: []string{"/bin/sleep", "600"}, runAtLoad: boolp(true)})
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", uid), plist)
	setup := len(r.ld.Calls())
	r.args = append(r.args, "--url", deadURL(t), "--restart-after", "1", "--verify-timeout", "1s")

	held, err := lock.TryLock(filepath.Join(r.h.StateDir, "council-remediation.lock"))
	if err != nil {
		t.Fatal(err)
	}
	res := r.run()
	wantCode(t, res, 2)
	wantCalls(t, r.mutating(setup))
	one(t, r.events(), "restart_deferred", "unreachable")

	held.Release()
	wantCode(t, r.run(), 2)
	wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
}

// council_restarts_total is a Prometheus counter: it counts every restart
// for the probe's lifetime and never falls when restarts age out of the
// rate-limit window (a drop reads as a counter reset).
func TestRestartsTotalNeverDecreases(t *testing.T) {
	r := newRig(t)
	plist := r.primaryPlist()
	writePlist(t, plist, plistOpts{label: primaryLabel, args: []string{"/bin/sleep", "600"}, runAtLoad: boolp(true)})
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", uid), plist)
	metrics := filepath.Join(r.h.Dir, "textfile")
	r.args = append(r.args, "--url", deadURL(t), "--restart-after", "1", "--verify-timeout", "300ms",
		"--restart-window", "1s", "--metrics-dir", metrics)
	total := func() string {
		data, err := os.ReadFile(filepath.Join(metrics, "council_guardian.prom"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "council_restarts_total{") {
				return line[strings.LastIndexByte(line, ' ')+1:]
			}
		}
		t.Fatalf("no council_restarts_total in:\n%s", data)
		return ""
	}
	r.run()
	if got := total(); got != "1" {
		t.Fatalf("after one restart: %s", got)
	}
	time.Sleep(1100 * time.Millisecond) // let the first restart leave the 1 s window
	r.run()
	if got := total(); got != "2" {
		t.Fatalf("after a second restart, with the first out of the window: %s, want 2", got)
	}
}
