package guardian

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sanctum/council-probes/pkg/alert"
	"github.com/sanctum/council-probes/pkg/launchctl"
	"github.com/sanctum/council-probes/pkg/lock"
)

// historyKey holds the times of recent restarts in the probe's state;
// totalKey the lifetime count, which only grows (Prometheus' counter
// council_restarts_total: a value that fell as restarts aged out of the
// window would read as a counter reset and inflate increase()).
const (
	historyKey = "restart_history"
	totalKey   = "restarts_total"
)

// restartsTotal is the lifetime restart count from the state.
func (g *guardian) restartsTotal() int {
	var n int
	if _, err := g.t.State.Get(totalKey, &n); err != nil || n < 0 {
		n = 0
	}
	return n
}

// restartHistory returns the restarts inside the rate-limit window, oldest
// first. A corrupt entry is dropped with a warning rather than blocking
// restarts forever.
func (g *guardian) restartHistory() []time.Time {
	var all []time.Time
	if _, err := g.t.State.Get(historyKey, &all); err != nil {
		g.t.Log.Warn("state_reset", "key", historyKey, "error", err.Error())
		all = nil
	}
	return PruneHistory(all, g.t.Now(), g.s.RestartWindow)
}

// PruneHistory keeps the restarts within window before now, oldest first.
// Restarts dated in the future (a clock stepped back) are kept: they still
// count against the limit until the window has passed them.
func PruneHistory(all []time.Time, now time.Time, window time.Duration) []time.Time {
	var kept []time.Time
	for _, ts := range all {
		if now.Sub(ts) < window {
			kept = append(kept, ts)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Before(kept[j]) })
	return kept
}

// restart kickstarts the primary and verifies the heal, unless the rate
// limit refuses it.
func (g *guardian) restart(ctx context.Context, history []time.Time, consecutive int) error {
	t, s, cfg := g.t, g.s, g.t.Common
	if len(history) >= s.MaxRestarts {
		next := t.Now()
		if len(history) > 0 {
			next = history[0].Add(s.RestartWindow)
		}
		t.Fail(CheckRateLimit, "rate_limit", alert.Critical,
			fmt.Sprintf("primary %s still down after %d restart(s) in %s; restart refused until %s; a human is needed",
				cfg.PrimaryLabel, len(history), s.RestartWindow, next.UTC().Format(time.RFC3339)),
			"restarts", len(history), "max_restarts", s.MaxRestarts, "window_s", int(s.RestartWindow.Seconds()))
		return nil
	}
	t.Clear(CheckRateLimit)

	// A restart touches launchd, so it holds the shared remediation lock
	// like a promotion does: integrity cannot promote the fallback while
	// the primary is being kickstarted and verified, and a promotion that
	// finished while we waited is seen before anything is restarted.
	if !t.DryRun() {
		lctx, cancel := context.WithTimeout(ctx, s.VerifyTimeout)
		lk, err := lock.Acquire(lctx, cfg.RemediationLock)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.Log.Warn("restart_deferred", "check", CheckUnreachable, "lock", cfg.RemediationLock, "error", err.Error(),
				"reason", "another probe is changing launchd; the next tick decides again")
			return nil
		}
		defer lk.Release()
		if onFallback, err := launchctl.FallbackLockExists(cfg.FallbackLock); err != nil || onFallback {
			t.Log.Warn("restart_skipped", "check", CheckUnreachable, "fallback_lock", cfg.FallbackLock,
				"reason", "the fallback was promoted while this tick ran; the next tick watches it")
			return nil
		}
	}

	action := g.runner.CommandLine("kickstart", "-k", g.runner.Service(cfg.PrimaryLabel))
	t.Log.Warn("restarting", "check", CheckUnreachable, "action", action, "consecutive", consecutive,
		"restarts_in_window", len(history), "dry_run", t.DryRun())
	start := time.Now()
	res, err := g.runner.Restart(ctx, cfg.PrimaryLabel, g.verifyPrimary)
	if !t.DryRun() {
		// A restart that failed still counts: the limit is on attempts.
		history = append(history, t.Now())
		if perr := t.State.Put(historyKey, history); perr != nil {
			return perr
		}
		if perr := t.State.Put(totalKey, g.restartsTotal()+1); perr != nil {
			return perr
		}
		g.forgetBackend()
	}
	t.SetRestarts(g.restartsTotal())
	if ctx.Err() != nil {
		// A signal cut the verify short: not a verdict on the restart.
		return ctx.Err()
	}
	rc := rcOf(err)
	t.Log.Info("restart_requested", "check", CheckUnreachable, "action", action, "rc", rc, "dry_run", t.DryRun())

	switch {
	case err == nil && t.DryRun():
		t.Log.Info("restart_dry_run", "check", CheckRestartUnverified, "steps", res.Steps)
	case err == nil:
		t.Log.Info("restart_verified", "check", CheckRestartUnverified, "action", action,
			"verify_attempts", res.VerifyAttempts, "heal_ms", time.Since(start).Milliseconds())
		t.Clear(CheckRestartUnverified)
		// The heal was verified by the same probe: the episode is over.
		t.Clear(CheckUnreachable)
	case errors.Is(err, launchctl.ErrRestartUnverified):
		t.Fail(CheckRestartUnverified, "restart_unverified", alert.Error,
			fmt.Sprintf("%s ran but the primary did not serve within %s: %v", action, s.VerifyTimeout, err),
			"action", action, "rc", rc, "verify_attempts", res.VerifyAttempts)
	default:
		t.Fail(CheckRestartUnverified, "restart_failed", alert.Error,
			fmt.Sprintf("restart of %s failed: %v", cfg.PrimaryLabel, err), "action", action, "rc", rc)
	}
	return nil
}
