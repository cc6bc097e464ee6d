package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/launchdsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// Remediation faults: a restart history dated in the future, a promotion
// cut short by SIGKILL or SIGTERM, and a reboot while on the fallback.
const (
	fFutureHistory    = "restart history in 2031"
	fPromoteKilled    = "SIGKILL mid-promotion"
	fPromoteTerm      = "SIGTERM mid-promotion"
	fRebootOnFallback = "reboot while on fallback"
)

func init() {
	register("guardian", []string{fFutureHistory, fPromoteKilled, fPromoteTerm, fRebootOnFallback}, guardianRemediationCells)
	register("integrity", []string{fPromoteKilled}, integrityRemediationCells)
}

func guardianRemediationCells() []cell {
	return []cell{
		{fault: fFutureHistory, sim: fault(councilsim.FaultDown), ticks: 3,
			setup: func(t *testing.T, w *world) {
				// Three restarts "in 2031": counted, they refuse every
				// restart until 2031.
				st := `{"version":1,"probe":"guardian","channels":{},"data":{"restart_history":` +
					`["2031-01-01T00:00:00Z","2031-01-01T00:01:00Z","2031-01-01T00:02:00Z"]}}`
				if err := os.WriteFile(w.stateFile(), []byte(st), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: want{code: 2, event: "clock_skew", check: "rate_limit", alert: delivered, alertCheck: "unreachable",
				then: func(t *testing.T, w *world) {
					restartAttempted(t, w)
					if n := len(probetest.Find(w.events(), "clock_skew", "rate_limit")); n != 1 {
						t.Errorf("%d clock_skew events in 3 ticks, want 1 (the future entries are dropped once seen)", n)
					}
					if evs := probetest.Find(w.events(), "rate_limit", "rate_limit"); len(evs) != 0 {
						t.Errorf("restarts dated in 2031 refused a restart now: %v", evs)
					}
					if st, _ := os.ReadFile(w.stateFile()); strings.Contains(string(st), "2031") {
						t.Errorf("the future history was kept after a restart:\n%s", st)
					}
				}},
			note: "restarts dated in the future are ignored (clock_skew logged): the primary is restarted, not rate-limited until 2031"},
		guardianPromoteKilled(),
		guardianPromoteTerm(),
		guardianRebootOnFallback(),
	}
}

// promoteGuardian points the guardian at a primary whose binary is gone
// (so it promotes at the first failure) and at the fallback.
func promoteGuardian(w *world) fallback {
	fb := w.writeFallback()
	w.args = append(w.args, "--primary-binary", filepath.Join(w.home.Dir, "gone", "sanctum-mlx"),
		"--restart-after", "1", "--fallback-url", fb.URL, "--verify-timeout", "20s")
	return fb
}

// enableFallback is the promotion's step after the primary's disable.
func enableFallback() string { return "enable " + domain() + "/" + fallbackLabel }

// guardianPromoteKilled: SIGKILL while launchctl enables the fallback (the
// primary is booted out and disabled, nothing is started). The next tick
// finds the lock at "primary_disabled" and finishes the promotion.
func guardianPromoteKilled() cell {
	return cell{fault: fPromoteKilled, sim: fault(councilsim.FaultDown),
		setup: func(t *testing.T, w *world) {
			promoteGuardian(w)
			w.interruptedTick(enableFallback(), syscall.SIGKILL)
			wantLockStep(t, w, launchctl.StepPrimaryDisabled)
		},
		want: want{code: 1, event: "fallback_activated", check: "fallback_activated", alert: delivered,
			then: func(t *testing.T, w *world) {
				if len(probetest.Find(w.events(), "promotion_resuming", "fallback_activated")) != 1 {
					t.Errorf("no promotion_resuming event:\n%s", dumpEvents(w.events()))
				}
				resumed(t, w, "enable", "bootstrap", "kickstart -k")
			}},
		note: "the next tick finds the lock at primary_disabled, enables, bootstraps and starts the fallback, verifies it and alerts (exit 1: serving from the fallback)",
	}
}

// guardianPromoteTerm: SIGTERM while launchctl enables the fallback. The
// enable is not killed: it finishes, the tick stops before the next step
// and exits 3, and the next tick finishes the promotion.
func guardianPromoteTerm() cell {
	return cell{fault: fPromoteTerm, sim: fault(councilsim.FaultDown),
		setup: func(t *testing.T, w *world) {
			promoteGuardian(w)
			res := w.interruptedTick(enableFallback(), syscall.SIGTERM)
			if res.Code != 3 {
				t.Errorf("SIGTERM mid-promotion: exit %d, want 3\nstdout: %s\nstderr: %s", res.Code, res.Stdout, res.Stderr)
			}
			if !slices.Contains(w.ld.MutatingCalls(), enableFallback()) {
				t.Fatalf("the launchctl step under way when SIGTERM came was killed, not finished; calls:\n  %s",
					strings.Join(w.ld.Calls(), "\n  "))
			}
			if len(probetest.Find(w.events(), "promotion_interrupted", "fallback_activated")) != 1 {
				t.Errorf("no promotion_interrupted event:\n%s", dumpEvents(w.events()))
			}
		},
		want: want{code: 1, event: "probe_ok", check: "fallback_down", alert: delivered, alertCheck: "fallback_activated",
			then: func(t *testing.T, w *world) {
				if lk := readLock(t, w); !lk.Done() {
					t.Errorf("the promotion was not finished: lock %+v", lk)
				}
			}},
		note: "the enable under way finishes (launchctl is not killed), the tick exits 3, and the next tick finishes the promotion and alerts",
	}
}

// guardianRebootOnFallback: after a reboot on the fallback (lock written,
// primary disabled, fallback enabled), login bootstraps the fallback's
// plist (KeepAlive, RunAtLoad=false) and launchd starts it: the guardian
// sees the fallback serving.
func guardianRebootOnFallback() cell {
	return cell{fault: fRebootOnFallback, sim: fault(councilsim.FaultDown),
		setup: func(t *testing.T, w *world) {
			fb := promoteGuardian(w)
			lk := fmt.Sprintf(`{"who":"council-guardian","when":"2026-01-01T00:00:00Z","why":"binary missing","pid":1,"primary":%q,"fallback":%q,"step":"done"}`,
				primaryLabel, fallbackLabel)
			if err := os.WriteFile(filepath.Join(w.home.StateDir, "council-fallback.lock"), []byte(lk), 0o600); err != nil {
				t.Fatal(err)
			}
			w.launchctl("disable", domain()+"/"+primaryLabel)
			w.launchctl("enable", domain()+"/"+fallbackLabel)
			w.launchctl("bootstrap", domain(), fb.Plist) // login
			// Wait (bounded) for the fallback to listen, if launchd
			// started it; if not, the tick below says so.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if _, err := os.Stat(fb.PIDFile); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		},
		want: want{code: 1, event: "probe_ok", check: "fallback_down", alert: noAlert,
			then: func(t *testing.T, w *world) {
				for _, c := range w.ld.MutatingCalls()[3:] {
					t.Errorf("the guardian changed launchd while the fallback serves: %s", c)
				}
			}},
		note: "launchd runs a loaded, enabled KeepAlive fallback whatever RunAtLoad says: the guardian sees it serving (exit 1), not fallback_down",
	}
}

func integrityRemediationCells() []cell {
	return []cell{
		{fault: fPromoteKilled,
			setup: func(t *testing.T, w *world) {
				os.Remove(primaryOf(w).Binary)
				fb := w.writeFallback()
				w.args = append(w.args, "--fallback-url", fb.URL)
				w.interruptedTick(enableFallback(), syscall.SIGKILL)
				wantLockStep(t, w, launchctl.StepPrimaryDisabled)
			},
			want: want{code: 2, event: "fallback_activated", check: "fallback_activated", alert: delivered,
				then: func(t *testing.T, w *world) {
					if len(probetest.Find(w.events(), "promotion_resuming", "")) != 1 {
						t.Errorf("no promotion_resuming event:\n%s", dumpEvents(w.events()))
					}
					resumed(t, w, "enable", "bootstrap", "kickstart -k")
				}},
			note: "killed between the primary's disable and the fallback's enable; integrity's next tick finishes the promotion, verifies and alerts"},
	}
}

// interruptedTick starts a tick and, once the fake launchd holds the
// launchctl call that starts with pauseAt, signals the probe. SIGKILL: the
// held launchctl is killed too, so that step never happens (as when the
// machine loses power). SIGTERM: it is released, so it can finish while the
// probe winds down.
func (w *world) interruptedTick(pauseAt string, sig syscall.Signal) probetest.Result {
	return w.interruptedTickWith(launchdsim.EnvPause, launchdsim.PauseFile(w.ld.StateFile), pauseAt, sig)
}

// interruptedTickWith is interruptedTick with the manager's pause variable
// and pause file.
func (w *world) interruptedTickWith(pauseVar, pauseFile, pauseAt string, sig syscall.Signal) probetest.Result {
	w.t.Helper()
	argv := w.argv()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(w.environ(), pauseVar+"="+pauseAt)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var held int
	deadline := time.After(runTimeout)
	for held == 0 {
		if b, err := os.ReadFile(pauseFile); err == nil {
			held, _ = strconv.Atoi(string(b))
			continue
		}
		select {
		case <-done:
			w.t.Fatalf("the tick ended before the manager's %q\nstdout: %s\nstderr: %s\ncalls: %q", pauseAt, out.String(), errb.String(), w.calls())
		case <-deadline:
			cmd.Process.Kill()
			<-done
			w.t.Fatalf("the tick never ran the manager's %q\nstdout: %s\nstderr: %s", pauseAt, out.String(), errb.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(sig); err != nil {
		w.t.Fatal(err)
	}
	if sig == syscall.SIGKILL {
		<-done
		if err := syscall.Kill(held, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			w.t.Fatal(err)
		}
	}
	if err := os.Remove(pauseFile); err != nil {
		w.t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(runTimeout):
		cmd.Process.Kill()
		<-done
		w.t.Fatalf("the tick did not end after %v\nstdout: %s\nstderr: %s", sig, out.String(), errb.String())
	}
	res := probetest.Result{Code: cmd.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errb.String()}
	w.outs = append(w.outs, res.Stdout, res.Stderr)
	return res
}

func readLock(t *testing.T, w *world) *launchctl.FallbackLock {
	t.Helper()
	lk, err := launchctl.ReadFallbackLock(filepath.Join(w.home.StateDir, "council-fallback.lock"))
	if err != nil {
		t.Fatalf("fallback lock: %v", err)
	}
	return lk
}

func wantLockStep(t *testing.T, w *world, step string) {
	t.Helper()
	if lk := readLock(t, w); lk.Step != step {
		t.Errorf("after the interrupted tick the lock records step %q, want %q: %+v", lk.Step, step, lk)
	}
}

// resumed asserts that the interrupted promotion was finished: the lock
// is done, and the launchctl calls after the primary's disable are the
// remaining steps (by verb) on the fallback.
func resumed(t *testing.T, w *world, verbs ...string) {
	t.Helper()
	lk := readLock(t, w)
	if !lk.Done() || lk.ResumedBy == "" {
		t.Errorf("lock after the resume: %+v", lk)
	}
	calls := w.ld.MutatingCalls()
	i := slices.Index(calls, "disable "+domain()+"/"+primaryLabel)
	if i < 0 {
		t.Fatalf("no disable of the primary among %q", calls)
	}
	var got []string
	for _, c := range calls[i+1:] {
		if !strings.Contains(c, fallbackLabel) {
			t.Errorf("resume touched something else than the fallback: %s", c)
		}
		got = append(got, strings.Fields(c)[0]+strings.Repeat(" -k", strings.Count(c, " -k")))
	}
	if !slices.Equal(got, verbs) {
		t.Errorf("after the interruption launchctl ran %q, want %q:\n  %s", got, verbs, strings.Join(calls, "\n  "))
	}
}
