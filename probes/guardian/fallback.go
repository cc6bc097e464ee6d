package guardian

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/alert"
	"github.com/sanctum/council-probes/pkg/launchctl"
	"github.com/sanctum/council-probes/pkg/lock"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/redact"
)

// promote switches serving to the fallback because the primary can never
// serve (why). PromoteFallback refuses when the lock already exists, and
// takes the shared remediation lock, so two probes racing promote once.
func (g *guardian) promote(ctx context.Context, why, evidence string, cause Cause) error {
	t, cfg := g.t, g.t.Common
	t.Log.Warn("promoting_fallback", append([]any{"check", CheckFallbackActivated, "why", why, "log_line", evidence,
		"primary", cfg.PrimaryLabel, "fallback", cfg.FallbackLabel, "dry_run", t.DryRun()}, cause.attrs()...)...)
	verify := func(ctx context.Context) error {
		c, err := fallbackClient(cfg, g.s)
		if err != nil {
			return err
		}
		return ProbeModels(ctx, c, g.s.Timeout, "").Err
	}
	res, err := g.runner.PromoteFallback(ctx, launchctl.PromoteOpts{
		PrimaryLabel: cfg.PrimaryLabel, FallbackLabel: cfg.FallbackLabel, FallbackPlist: cfg.FallbackPlist,
		FallbackLockPath: cfg.FallbackLock, RemediationLockPath: cfg.RemediationLock,
		Who: Who, Why: why, Verify: verify,
	})
	if ctx.Err() != nil {
		return ctx.Err() // a signal, not a verdict; the lock (if written) stays
	}
	rc := rcOf(err)
	switch {
	case errors.Is(err, launchctl.ErrAlreadyOnFallback):
		// Another probe won the race; it alerts. Nothing changed here.
		t.Log.Info("fallback_already_active", "check", CheckFallbackActivated,
			"detail", "another probe promoted the fallback first; nothing done", "lock", cfg.FallbackLock)
	case err == nil && t.DryRun():
		t.Log.Info("fallback_dry_run", "check", CheckFallbackActivated, "why", why, "steps", res.Steps)
		t.Notify(CheckFallbackActivated, alert.Warn, withCause(activatedMessage(cfg, why, 0), cause))
	case err == nil:
		t.Log.Warn("fallback_activated", append([]any{"check", CheckFallbackActivated, "why", why, "fallback", cfg.FallbackLabel,
			"lock", cfg.FallbackLock, "steps", res.Steps, "verify_attempts", res.VerifyAttempts, "rc", rc}, cause.attrs()...)...)
		// News of a recovery, not a failing state: one warn notice. The
		// council serves again; a human should fix the primary, calmly.
		t.Notify(CheckFallbackActivated, alert.Warn, withCause(activatedMessage(cfg, why, res.VerifyAttempts), cause))
	case errors.Is(err, launchctl.ErrUnverified):
		t.Fail(CheckFallbackDown, "fallback_down", alert.Critical,
			withCause(fmt.Sprintf("promoted %s because %s, but it does not serve: %v; a human is needed", cfg.FallbackLabel, why, err), cause),
			"steps", res.Steps, "verify_attempts", res.VerifyAttempts, "rc", rc)
	default:
		t.Fail(CheckFallbackDown, "fallback_failed", alert.Critical,
			withCause(fmt.Sprintf("could not promote %s (%s): %v; a human is needed", cfg.FallbackLabel, why, err), cause),
			"steps", res.Steps, "rc", rc)
	}
	return nil
}

func activatedMessage(cfg probe.Common, why string, attempts int) string {
	msg := fmt.Sprintf("primary %s can never serve (%s); fallback %s promoted", cfg.PrimaryLabel, why, cfg.FallbackLabel)
	if attempts > 0 {
		msg += " and serving"
	}
	return msg + "; fix the primary, then run council-guardian restore-primary"
}

// watchFallback runs while the fallback lock exists: probe the fallback,
// never promote again, call for a human if it is down too.
func (g *guardian) watchFallback(ctx context.Context) error {
	g.t.SetRestarts(g.restartsTotal())
	t, cfg := g.t, g.t.Common
	// The lock is written before the fallback is started: if another
	// probe is still promoting (it holds the remediation lock), wait for
	// it rather than report a fallback that is merely not up yet.
	if err := g.awaitRemediation(ctx); err != nil {
		t.Log.Warn("remediation_in_progress", "lock", cfg.RemediationLock, "error", err.Error())
	}
	lk, lerr := launchctl.ReadFallbackLock(cfg.FallbackLock)
	since, why := "unknown time", "unknown reason"
	if lerr == nil && lk != nil {
		since, why = lk.When.UTC().Format(time.RFC3339), lk.Why
	} else if lerr != nil {
		t.Log.Warn("fallback_lock_unreadable", "lock", cfg.FallbackLock, "error", lerr.Error())
	}
	c, err := fallbackClient(cfg, g.s)
	if err != nil {
		t.Unknown(CheckFallbackDown, "transport_error", fmt.Sprintf("fallback transport: %v", err))
		return nil
	}
	live := ProbeModels(ctx, c, g.s.Timeout, "")
	ms := live.Elapsed.Milliseconds()
	t.Perf("probe_ms", float64(ms), "ms")
	attrs := []any{"target", "fallback", "url", redact.URL(c.BaseURL), "fallback_transport", string(c.Kind), "probe_ms", ms,
		"http_status", live.Status, "fallback_since", since}
	if live.OK() {
		t.Pass(CheckFallbackDown, "probe_ok", append(attrs, "consecutive", 0, "models", len(live.Models))...)
		t.SetExit(probe.ExitWarning, fmt.Sprintf("serving from fallback %s since %s (%s); fix the primary, then run council-guardian restore-primary",
			cfg.FallbackLabel, since, why))
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if live.Auth() {
		g.authRefused(live, "fallback")
		return nil
	}
	t.Fail(CheckFallbackDown, "probe_fail", alert.Critical,
		fmt.Sprintf("fallback %s is down too: %v; on fallback since %s (%s); nothing promoted; a human is needed",
			cfg.FallbackLabel, live.Err, since, why),
		append(attrs, "reason", live.Reason)...)
	return nil
}

// awaitRemediation waits (at most the verify timeout) until no probe holds
// the shared remediation lock.
func (g *guardian) awaitRemediation(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.s.VerifyTimeout)
	defer cancel()
	l, err := lock.Acquire(ctx, g.t.Common.RemediationLock)
	if err != nil {
		return err
	}
	return l.Release()
}
