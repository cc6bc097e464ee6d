package guardian

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// restartTick is a guardian tick in-process whose service manager is
// launchd's (built, never run: reportRestart only asks its kind).
func restartTick(t *testing.T) (*probetest.Tick, *guardian) {
	t.Helper()
	k := probetest.NewTick(t, New(), probe.Common{PrimaryLabel: "com.sanctum.mlx"})
	g := &guardian{t: k.Tick, mgr: launchctl.NewManager("/nonexistent/launchctl", service.Options{}, io.Discard),
		s: settings{RestartWindow: defaultRestartWindow, MaxRestarts: defaultMaxRestarts, VerifyTimeout: 20 * time.Second}}
	return k, g
}

var wedgedWhy = restartWhy{check: CheckWedged, reason: reasonIdle,
	cause: deathCause{Source: "launchd", LastExit: "signal 11 (Segmentation fault: 11)"}}

// TestReportRestart: how a restart went decides restart_unverified and
// the channel that asked for it; a fault on our side (not permitted, no
// manager) is UNKNOWN, never a failure of the server.
func TestReportRestart(t *testing.T) {
	const action = "launchctl kickstart -k gui/501/com.sanctum.mlx"
	for _, tc := range []struct {
		name  string
		err   error
		check string // the channel it reports on ("" for none)
		event string
		exit  int
		msg   string // what the alert says (a substring)
	}{
		{name: "verified", err: nil, event: "restart_verified", exit: probe.ExitOK},
		{name: "not permitted", err: fmt.Errorf("kickstart: %w", service.ErrNotPermitted), check: CheckRestartUnverified,
			event: "restart_not_permitted", exit: probe.ExitUnknown,
			msg: "restart of com.sanctum.mlx (idle) not permitted by launchd: kickstart: not permitted; run the probes as the primary's owner"},
		{name: "manager unavailable", err: fmt.Errorf("launchctl: %w", service.ErrUnavailable), check: probe.CheckServiceManager,
			event: "service_manager_unavailable", exit: probe.ExitUnknown, msg: "cannot ask launchd"},
		{name: "unverified", err: fmt.Errorf("no answer: %w", service.ErrRestartUnverified), check: CheckRestartUnverified,
			event: "restart_unverified", exit: probe.ExitCritical,
			msg: action + " (idle) ran but the primary did not serve within 20s"},
		{name: "failed", err: errors.New("exit status 5"), check: CheckRestartUnverified, event: "restart_failed", exit: probe.ExitCritical,
			msg: "restart of com.sanctum.mlx (idle) failed: exit status 5 (cause: launchd: last exit signal 11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, g := restartTick(t)
			// The wedged channel is open, as when a wedged restart runs.
			k.Fail(CheckWedged, "wedged", alert.Error, "wedged")
			k = k.Next(time.Second)
			g.t = k.Tick
			g.reportRestart(wedgedWhy, action, &service.Result{VerifyAttempts: 4}, tc.err, 1500*time.Millisecond)
			if got := k.Find("restart_requested", CheckWedged); len(got) != 1 || got[0]["action"] != action {
				t.Fatalf("restart_requested: %v", k.Events())
			}
			if tc.check == "" {
				// Verified by the check's own test: the episode is over.
				if e := k.Find(tc.event, CheckRestartUnverified); len(e) != 1 || e[0]["heal_ms"] != 1500.0 || e[0]["verify_attempts"] != 4.0 {
					t.Fatalf("events %v", k.Events())
				}
				if len(k.Find("recovered", CheckWedged)) != 1 {
					t.Fatalf("wedged not closed: %v", k.Events())
				}
			} else {
				if len(k.Find(tc.event, tc.check)) != 1 {
					t.Fatalf("no %s on %s: %v", tc.event, tc.check, k.Events())
				}
				alerts := k.Alerts()
				if len(alerts) != 1 || alerts[0].Check != tc.check || !strings.Contains(alerts[0].Message, tc.msg) {
					t.Fatalf("alerts %+v; want one on %s saying %q", alerts, tc.check, tc.msg)
				}
				if len(k.Find("recovered", CheckWedged)) != 0 {
					t.Fatal("an unhealed restart closed the wedged channel")
				}
			}
			if k.ExitCode() != tc.exit {
				t.Fatalf("exit %d; want %d", k.ExitCode(), tc.exit)
			}
		})
	}
}

// TestRefuseRestart: a restart the rate limit refuses is critical and
// says until when, and why the primary died when that is known.
func TestRefuseRestart(t *testing.T) {
	k, g := restartTick(t)
	recent := []time.Time{probetest.Epoch.Add(-4 * time.Minute), probetest.Epoch.Add(-3 * time.Minute), probetest.Epoch.Add(-time.Minute)}
	rl := decideRestart(recent, k.Now(), g.s.RestartWindow, g.s.MaxRestarts)
	if !rl.Refused {
		t.Fatalf("decision %+v; want refused", rl)
	}
	g.refuseRestart(rl, wedgedWhy)
	alerts := k.Alerts()
	want := "primary com.sanctum.mlx still failing (idle) after 3 restart(s) in 5m0s; restart refused until 2026-03-14T15:10:26Z; a human is needed (cause: launchd: last exit signal 11 (Segmentation fault: 11))"
	if len(alerts) != 1 || alerts[0].Check != CheckRateLimit || alerts[0].Severity != alert.Critical || alerts[0].Message != want {
		t.Fatalf("alerts %+v\nwant one critical on rate_limit: %q", alerts, want)
	}
	if e := k.Find("rate_limit", CheckRateLimit); len(e) != 1 || e[0]["last_exit"] != "signal 11 (Segmentation fault: 11)" || e[0]["max_restarts"] != 3.0 {
		t.Fatalf("events %v", k.Events())
	}
	if k.ExitCode() != probe.ExitCritical {
		t.Fatalf("exit %d; want 2", k.ExitCode())
	}
}
