// Package guardian is the council's liveness probe and first responder:
// "is it up; if not, fix it" (docs/DESIGN.md, section 3).
//
// Every 30 s launchd runs one tick. The tick asks the council for its model
// list (GET /v1/models, 10 s budget) over the autodetected transport. A 200
// with a JSON model list (with the expected model, if one is configured)
// passes; anything else fails, including a 200 that is HTML or not JSON.
//
// Failures escalate, each on its own alert channel:
//
//   - auth: /v1/models answered 401 or 403. The server answered, and no
//     restart fixes a token, so this is our side's fault: UNKNOWN (exit 3),
//     alerted at once (then hourly at most), neither counted as nor
//     resetting the unreachable streak, never remediated.
//   - unreachable: the probe failed (alerts after 3 in a row). A failure
//     while the primary's log shows a request completed in the last 90 s is
//     not counted: a busy single-stream server answers late, it is not dead
//     (probe_skip_busy).
//   - After 3 consecutive failures the primary is restarted (launchctl
//     kickstart -k, or systemctl restart under systemd) and the heal is
//     verified by probing until it answers; an unverified restart alerts on
//     restart_unverified, and one the service manager refuses for want of
//     privilege is UNKNOWN there ("not permitted").
//   - rate_limit: at most 3 restarts per 300 s; the next one is refused,
//     critical, exit 2: restarting in a loop hides a problem a human must see.
//   - fallback_activated: when the tail of the primary's log shows a
//     signature of a binary that can never serve (a missing metallib, a
//     failed manifest check, ...) or the primary binary is missing or not
//     executable, restarting is pointless: the fallback is promoted instead
//     (the service manager's PromoteFallback, under the shared remediation
//     lock).
//   - fallback_down: while the fallback lock exists the guardian watches the
//     fallback, never promotes again, and calls for a human (critical) if
//     the fallback is down too. A lock whose promotion was cut short (its
//     step is not "done": a SIGTERM or SIGKILL between two steps of the
//     service manager) is finished first (ResumePromotion).
//   - rate_limit ignores restarts recorded in the future (clock_skew).
//   - wedged: /v1/models is green but the canary's state says chat hangs;
//     the primary's CPU decides: idle is a deadlock (restarted, verified by
//     a chat answer), busy is work (left alone until --max-busy). See
//     wedged.go.
//   - crashed: the service manager restarted the primary by itself
//     (launchd's KeepAlive, systemd's Restart= hide a crash from
//     /v1/models). See crashed.go. Every restart and promotion carries the
//     cause: the manager's last exit or signal (systemd's journal once the
//     unit runs again) and the fatal log lines (cause.go).
//   - service_manager: the service manager cannot be asked at all (no
//     launchctl or systemctl, no user manager): UNKNOWN, once, and nothing
//     that needed it is judged.
//
// A healthy tick asks the service manager nothing: it remembers the
// primary's pid and start time and checks only that the same process is
// still there (crashed.go).
//
// The operator switches back with `council-guardian restore-primary`.
package guardian

import (
	"context"
	"errors"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
)

// Checks: each failure mode is its own alert channel.
const (
	CheckUnreachable       = "unreachable"
	CheckRateLimit         = "rate_limit"
	CheckFallbackActivated = suite.CheckFallbackActivated
	CheckRestartUnverified = "restart_unverified"
	CheckFallbackDown      = suite.CheckFallbackDown
	// CheckAuth: /v1/models answered 401 or 403. The server answered, so
	// it is not unreachable, and no restart fixes a token: UNKNOWN (exit
	// 3), alerted once per cooldown, never counted as a liveness failure,
	// never remediated. Its own channel, not "transport": the contract
	// clears "transport" whenever the transport resolves, which would
	// reopen the alert every tick.
	CheckAuth = probe.CheckAuth
)

// New returns the guardian probe.
func New() *probe.Probe {
	return &probe.Probe{
		Name:        "guardian",
		Usage:       "is the council up; if not, fix it (restart, or promote the fallback)",
		Description: description,
		Network:     true,
		Layout:      true,
		Flags:       flags(),
		Commands:    []*cli.Command{restoreCommand()},
		Default:     alert.Policy{Threshold: 1, Cooldown: 30 * time.Minute},
		Policies: map[string]alert.Policy{
			CheckUnreachable: {Threshold: defaultRestartAfter, Cooldown: 30 * time.Minute},
			CheckAuth:        {Threshold: 1, Cooldown: time.Hour},
		},
		Tick: tick,
	}
}

const description = `One tick: GET /v1/models (--timeout). After --restart-after consecutive
failures: restart the primary (launchctl kickstart -k, or systemctl restart
under systemd: --service-manager) and verify the heal (--verify-timeout),
at most --max-restarts per --restart-window (then critical, exit 2). A
request completed within --busy-window in --primary-log defers escalation.
A fatal signature in the tail of --primary-log, or a missing or
non-executable --primary-binary, promotes the fallback instead. A primary
its service manager started less than --startup-grace ago is still loading
and is not restarted (its failures still count and alert). While the
fallback lock exists the fallback (--fallback-url) is watched instead and
nothing is promoted again; restore-primary switches back. A 401 or 403
is an auth fault: UNKNOWN (exit 3) on the auth channel, never restarted.
A restart signature (--restart-signature: a Metal or CUDA out-of-memory,
...) restarts instead of promoting. When /v1/models passes but the
canary's state (--canary-state) shows hang or stream_stall for
--wedged-after ticks, the primary's CPU is sampled over --cpu-window:
under --idle-cpu it is wedged and restarted (verified by a tiny chat);
busy, it is left alone until --max-busy. A primary its service manager
restarted by itself is "crashed" (warn; error at --crash-loop in
--crash-window); a healthy tick asks the manager nothing while the primary's
pid and start time are unchanged. A manager that cannot be asked is UNKNOWN
on service_manager; a restart or promotion it refuses for want of privilege
is UNKNOWN "not permitted".`

// guardian is one tick's worth of context.
type guardian struct {
	t   *probe.Tick
	s   settings
	mgr service.Manager
}

// tick runs one guardian tick.
func tick(ctx context.Context, t *probe.Tick) error {
	s, err := settingsFrom(t.C)
	if err != nil {
		return err
	}
	if t.Common.PrimaryBinary == "" {
		// An unset path must not read as "binary missing" and promote.
		return errors.New("--primary-binary is empty: set the primary server's binary path")
	}
	// The unreachable channel alerts when the guardian escalates, so its
	// threshold follows --restart-after.
	t.SetPolicy(CheckUnreachable, alert.Policy{Threshold: s.RestartAfter, Cooldown: 30 * time.Minute})
	mgr, err := t.Manager(service.Options{VerifyTimeout: s.VerifyTimeout, VerifyInterval: s.VerifyInterval})
	if err != nil {
		return err
	}
	g := &guardian{t: t, s: s, mgr: mgr}
	onFallback, err := service.FallbackLockExists(t.Common.FallbackLock)
	if err != nil {
		return err
	}
	if onFallback {
		return g.watchFallback(ctx)
	}
	return g.watchPrimary(ctx)
}

// rcOf is the service manager's exit code in err: 0 when its command
// succeeded (err nil, or only the verify failed), -1 when none ran.
func rcOf(err error) int { return service.ExitCode(err) }
