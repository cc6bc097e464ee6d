package guardian

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/lock"
	"github.com/sanctum/council-probes/pkg/host/service"
)

// historyKey holds the times of recent restarts in the probe's state;
// totalKey the lifetime count, which only grows (Prometheus' counter
// council_restarts_total: a value that fell as restarts aged out of the
// window would read as a counter reset and inflate increase()).
const (
	historyKey = "restart_history"
	// lastRestartKey is the time of the last restart, kept past the
	// rate-limit window: evidence older than it (a canary tick) is about
	// the process that restart replaced.
	lastRestartKey = "last_restart"
	totalKey       = "restarts_total"
)

// restartsTotal is the lifetime restart count from the state.
func (g *guardian) restartsTotal() int {
	var n int
	if _, err := g.t.State.Get(totalKey, &n); err != nil || n < 0 {
		n = 0
	}
	return n
}

// rateLimit reads the restart history from the state and decides whether
// the limit allows another restart. A corrupt history is dropped with a
// warning rather than blocking restarts forever; restarts dated in the
// future are ignored, logged (clock_skew) and dropped from the state, so
// the warning is not repeated every tick.
func (g *guardian) rateLimit() restartDecision {
	var all []time.Time
	if _, err := g.t.State.Get(historyKey, &all); err != nil {
		g.t.Log.Warn("state_reset", "key", historyKey, "error", err.Error())
		all = nil
	}
	now := g.t.Now()
	rl := decideRestart(all, now, g.s.RestartWindow, g.s.MaxRestarts)
	if len(rl.Future) > 0 {
		latest := rl.Future[len(rl.Future)-1]
		g.t.Log.Warn("clock_skew", "check", CheckRateLimit, "key", historyKey, "ignored", len(rl.Future),
			"latest", latest.UTC().Format(time.RFC3339), "ahead_s", int(latest.Sub(now).Seconds()),
			"reason", "restarts dated in the future (a clock stepped back, or a bad state file) do not count against the limit")
		if !g.t.DryRun() {
			if err := g.t.State.Put(historyKey, rl.Recent); err != nil {
				g.t.Log.Warn("state_error", "key", historyKey, "error", err.Error())
			}
		}
	}
	return rl
}

// futureRestartSkew is how far ahead of now a recorded restart may lie and
// still count: a clock corrected by a few seconds is normal.
const futureRestartSkew = futureSkew

// restartDecision is the restart rate limit's decision for one tick.
type restartDecision struct {
	// Recent are the restarts inside the window, oldest first: they count.
	Recent []time.Time
	// Future are restarts dated more than a few seconds after now (a clock
	// stepped back, or a planted state file), oldest first. They do not
	// count: counted, a restart dated in 2031 would refuse every restart
	// until 2031.
	Future []time.Time
	// Refused: Recent has reached the maximum. Until is when the oldest of
	// them leaves the window and a restart is allowed again.
	Refused bool
	Until   time.Time
}

// decideRestart applies the limit of maxRestarts restarts per window to
// the recorded restart times at now.
func decideRestart(history []time.Time, now time.Time, window time.Duration, maxRestarts int) restartDecision {
	var rl restartDecision
	for _, ts := range history {
		switch {
		case ts.After(now.Add(futureRestartSkew)):
			rl.Future = append(rl.Future, ts)
		case now.Sub(ts) < window:
			rl.Recent = append(rl.Recent, ts)
		}
	}
	sort.Slice(rl.Recent, func(i, j int) bool { return rl.Recent[i].Before(rl.Recent[j]) })
	sort.Slice(rl.Future, func(i, j int) bool { return rl.Future[i].Before(rl.Future[j]) })
	if len(rl.Recent) >= maxRestarts {
		rl.Refused = true
		rl.Until = now
		if len(rl.Recent) > 0 {
			rl.Until = rl.Recent[0].Add(window)
		}
	}
	return rl
}

// restartWhy says what a restart is for: the check that asked for it
// (unreachable, wedged), its reason for the event log, how the heal is
// verified, and why the primary died, when known.
type restartWhy struct {
	check  string
	reason string
	verify func(context.Context) error
	cause  deathCause
}

// restart kickstarts the primary and verifies the heal, unless the rate
// limit refuses it.
func (g *guardian) restart(ctx context.Context, rl restartDecision, consecutive int, cause deathCause) error {
	return g.restartFor(ctx, rl, consecutive, restartWhy{check: CheckUnreachable, reason: "unreachable", verify: g.verifyPrimary, cause: cause})
}

// restartFor is the Restart recipe, shared by every check that restarts:
// one rate limit, the remediation lock, a verified heal.
func (g *guardian) restartFor(ctx context.Context, rl restartDecision, consecutive int, why restartWhy) error {
	t, cfg := g.t, g.t.Common
	if rl.Refused {
		g.refuseRestart(rl, why)
		return nil
	}
	t.Clear(CheckRateLimit)
	if !t.DryRun() {
		lk, err := g.remediationLock(ctx, why.check)
		if lk == nil {
			return err
		}
		defer lk.Release()
	}

	action := g.mgr.RestartCommand(cfg.PrimaryLabel)
	t.Log.Warn("restarting", append([]any{"check", why.check, "action", action, "consecutive", consecutive,
		"restarts_in_window", len(rl.Recent), "dry_run", t.DryRun(), "reason", why.reason}, why.cause.attrs()...)...)
	start := time.Now()
	res, err := g.mgr.Restart(ctx, cfg.PrimaryLabel, why.verify)
	if perr := g.recordRestart(ctx, rl.Recent); perr != nil {
		return perr
	}
	if ctx.Err() != nil {
		// A signal cut the verify short: not a verdict on the restart.
		return ctx.Err()
	}
	g.reportRestart(why, action, res, err, time.Since(start))
	return nil
}

// refuseRestart reports a restart the rate limit refuses: critical, a
// human is needed.
func (g *guardian) refuseRestart(rl restartDecision, why restartWhy) {
	s := g.s
	g.t.Fail(CheckRateLimit, "rate_limit", alert.Critical,
		withCause(fmt.Sprintf("primary %s still failing (%s) after %d restart(s) in %s; restart refused until %s; a human is needed",
			g.t.Common.PrimaryLabel, why.reason, len(rl.Recent), s.RestartWindow, rl.Until.UTC().Format(time.RFC3339)), why.cause),
		append([]any{"restarts", len(rl.Recent), "max_restarts", s.MaxRestarts, "window_s", int(s.RestartWindow.Seconds()), "reason", why.reason}, why.cause.attrs()...)...)
}

// remediationLock takes the shared remediation lock for a restart, as a
// promotion does: integrity cannot promote the fallback while the primary
// is being restarted and verified, and a promotion that finished while we
// waited is seen before anything is restarted. A nil lock means no
// restart this tick: another probe holds the lock (deferred), the
// fallback was promoted meanwhile (skipped), or err, a signal.
func (g *guardian) remediationLock(ctx context.Context, check string) (*lock.Lock, error) {
	t, cfg := g.t, g.t.Common
	lctx, cancel := context.WithTimeout(ctx, g.s.VerifyTimeout)
	lk, err := lock.Acquire(lctx, cfg.RemediationLock)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t.Log.Warn("restart_deferred", "check", check, "lock", cfg.RemediationLock, "error", err.Error(),
			"reason", "another probe is changing the service manager's state; the next tick decides again")
		return nil, nil
	}
	if onFallback, err := service.FallbackLockExists(cfg.FallbackLock); err != nil || onFallback {
		lk.Release()
		t.Log.Warn("restart_skipped", "check", check, "fallback_lock", cfg.FallbackLock,
			"reason", "the fallback was promoted while this tick ran; the next tick watches it")
		return nil, nil
	}
	return lk, nil
}

// recordRestart records a restart in the state (not in a dry run): the
// rate limit's history (a restart that failed still counts: the limit is
// on attempts), the lifetime total, the time of the last one, and the
// manager's view of the primary, whose restart count rose because of this
// restart, not a crash.
func (g *guardian) recordRestart(ctx context.Context, history []time.Time) error {
	t := g.t
	if !t.DryRun() {
		g.noteManager(ctx)
		history = append(history, t.Now())
		if err := t.State.Put(historyKey, history); err != nil {
			return err
		}
		if err := t.State.Put(totalKey, g.restartsTotal()+1); err != nil {
			return err
		}
		g.forgetBackend()
		if err := t.State.Put(lastRestartKey, t.Now()); err != nil {
			return err
		}
	}
	t.SetRestarts(g.restartsTotal())
	return nil
}

// reportRestart reports how a restart went, on restart_unverified: a
// verified heal closes it and the check that asked (the episode is over);
// a manager that refused for want of privilege is UNKNOWN ("not
// permitted"), one that could not be asked is the service_manager
// channel's; an unverified or failed restart is an error.
func (g *guardian) reportRestart(why restartWhy, action string, res *service.Result, err error, heal time.Duration) {
	t, cfg, kind := g.t, g.t.Common, g.mgr.Kind()
	rc := rcOf(err)
	t.Log.Info("restart_requested", "check", why.check, "action", action, "rc", rc, "dry_run", t.DryRun())
	switch {
	case err == nil && t.DryRun():
		t.Log.Info("restart_dry_run", "check", CheckRestartUnverified, "steps", res.Steps)
	case err == nil:
		t.Log.Info("restart_verified", append([]any{"check", CheckRestartUnverified, "action", action,
			"verify_attempts", res.VerifyAttempts, "heal_ms", heal.Milliseconds(), "reason", why.reason}, why.cause.attrs()...)...)
		t.Clear(CheckRestartUnverified)
		t.Clear(why.check)
	case errors.Is(err, service.ErrNotPermitted):
		// Our side: the manager refused the restart for want of
		// privilege. UNKNOWN, said plainly, never a silent no-op.
		t.Unknown(CheckRestartUnverified, "restart_not_permitted",
			withCause(fmt.Sprintf("restart of %s (%s) not permitted by %s: %v; run the probes as the primary's owner, or install the polkit rule (README, Linux)",
				cfg.PrimaryLabel, why.reason, kind, err), why.cause),
			append([]any{"action", action, "rc", rc, "reason", why.reason}, why.cause.attrs()...)...)
	case errors.Is(err, service.ErrUnavailable):
		t.ManagerAnswered(kind, err)
	case errors.Is(err, service.ErrRestartUnverified):
		t.Fail(CheckRestartUnverified, "restart_unverified", alert.Error,
			withCause(fmt.Sprintf("%s (%s) ran but the primary did not serve within %s: %v", action, why.reason, g.s.VerifyTimeout, err), why.cause),
			append([]any{"action", action, "rc", rc, "verify_attempts", res.VerifyAttempts, "reason", why.reason}, why.cause.attrs()...)...)
	default:
		t.Fail(CheckRestartUnverified, "restart_failed", alert.Error,
			withCause(fmt.Sprintf("restart of %s (%s) failed: %v", cfg.PrimaryLabel, why.reason, err), why.cause),
			append([]any{"action", action, "rc", rc, "reason", why.reason}, why.cause.attrs()...)...)
	}
}

// verifyPrimary is the heal check of a restart: the same probe as the tick.
func (g *guardian) verifyPrimary(ctx context.Context) error {
	return probeModels(ctx, g.t.Client, g.s.Timeout, g.listedModel()).Err
}
