package guardian

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/lock"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// neverServes returns why the primary can never serve (short: it goes into
// the fallback lock and the alert) and the evidence for the event log, or
// "" when a restart may help.
func (g *guardian) neverServes(tail []byte) (why, evidence string) {
	cfg := g.t.Common
	if err := checkBinary(cfg.PrimaryBinary); err != nil {
		return err.Error(), ""
	}
	if f, action, ok := classifyFatal(tail, g.s.FatalSignatures, g.s.RestartSignatures, g.s.BusyMarker); ok && action == actionPromote {
		return fmt.Sprintf("fatal signature %q in %s", f.Signature, filepath.Base(cfg.PrimaryLog)), f.Line
	}
	return "", ""
}

// promote switches serving to the fallback because the primary can never
// serve (why). PromoteFallback refuses when the lock already exists, and
// takes the shared remediation lock, so two probes racing promote once.
func (g *guardian) promote(ctx context.Context, why, evidence string, cause deathCause) error {
	t, cfg := g.t, g.t.Common
	t.Log.Warn("promoting_fallback", append([]any{"check", CheckFallbackActivated, "why", why, "log_line", evidence,
		"primary", cfg.PrimaryLabel, "fallback", cfg.FallbackLabel, "dry_run", t.DryRun()}, cause.attrs()...)...)
	res, err := g.mgr.PromoteFallback(ctx, g.promoteOpts(why))
	if ctx.Err() != nil {
		// A signal, not a verdict. The manager's step under way finished
		// and the lock records it: the next tick resumes the promotion.
		t.Log.Warn("promotion_interrupted", "check", CheckFallbackActivated, "steps", res.Steps, "step", lockStep(res),
			"reason", "signal received; the next tick finishes the promotion")
		return ctx.Err()
	}
	if errors.Is(err, service.ErrAlreadyOnFallback) {
		// Another probe won the race; it alerts. Nothing changed here.
		t.Log.Info("fallback_already_active", "check", CheckFallbackActivated,
			"detail", "another probe promoted the fallback first; nothing done", "lock", cfg.FallbackLock)
		return nil
	}
	g.reportPromotion(why, "", res, err, cause)
	return nil
}

// resume finishes a promotion cut short by a signal, a crash or a reboot
// (the fallback lock's step is not "done"): the remaining steps,
// then verify, then the usual notice. It reports whether the tick is over;
// false means there was nothing to resume after all (another probe
// finished it) or the resume succeeded, and the fallback is watched as
// usual.
func (g *guardian) resume(ctx context.Context, lk *service.FallbackLock) (over bool, err error) {
	t, cfg := g.t, g.t.Common
	t.Log.Warn("promotion_resuming", "check", CheckFallbackActivated, "step", lk.Step, "lock_who", lk.Who,
		"lock_when", lk.When.UTC().Format(time.RFC3339), "why", lk.Why, "primary", cfg.PrimaryLabel,
		"fallback", cfg.FallbackLabel, "dry_run", t.DryRun())
	why := lk.Why
	if why == "" {
		why = "unknown reason"
	}
	res, err := g.mgr.ResumePromotion(ctx, g.promoteOpts(why))
	if ctx.Err() != nil {
		t.Log.Warn("promotion_interrupted", "check", CheckFallbackActivated, "steps", res.Steps, "step", lockStep(res),
			"reason", "signal received; the next tick finishes the promotion")
		return true, ctx.Err()
	}
	if errors.Is(err, service.ErrNothingToResume) {
		t.Log.Info("promotion_resume_skipped", "check", CheckFallbackActivated, "reason", err.Error())
		return false, nil
	}
	// The cause was reported when the promotion began.
	g.reportPromotion(why, lk.Step, res, err, deathCause{})
	return err != nil || t.DryRun(), nil
}

// who is written into the fallback lock when the guardian promotes.
const who = "council-guardian"

// promoteOpts are the PromoteFallback and ResumePromotion options of this
// guardian; verify probes the fallback's model list.
func (g *guardian) promoteOpts(why string) service.PromoteOpts {
	cfg := g.t.Common
	verify := func(ctx context.Context) error {
		c, err := fallbackClient(cfg, g.s)
		if err != nil {
			return err
		}
		return probeModels(ctx, c, g.s.Timeout, "").Err
	}
	return service.PromoteOpts{
		Primary: cfg.PrimaryLabel, Fallback: cfg.FallbackLabel, FallbackDefinition: cfg.FallbackPlist,
		FallbackLockPath: cfg.FallbackLock, RemediationLockPath: cfg.RemediationLock,
		Who: who, Why: why, Verify: verify,
	}
}

// reportPromotion reports how a promotion (or, with resumedAfter set, the
// resume of one interrupted after that step) ended.
func (g *guardian) reportPromotion(why, resumedAfter string, res *service.Result, err error, cause deathCause) {
	t, cfg := g.t, g.t.Common
	rc := rcOf(err)
	attrs := append([]any{"steps", res.Steps}, cause.attrs()...)
	if resumedAfter != "" {
		attrs = append(attrs, "resumed_after", resumedAfter)
	}
	switch {
	case err == nil && t.DryRun():
		t.Log.Info("fallback_dry_run", append(attrs, "check", CheckFallbackActivated, "why", why)...)
		t.Notify(CheckFallbackActivated, alert.Warn, withCause(activatedMessage(cfg, why, 0, resumedAfter), cause))
	case err == nil:
		t.Log.Warn("fallback_activated", append(attrs, "check", CheckFallbackActivated, "why", why, "fallback", cfg.FallbackLabel,
			"lock", cfg.FallbackLock, "verify_attempts", res.VerifyAttempts, "rc", rc)...)
		// News of a recovery, not a failing state: one warn notice. The
		// council serves again; a human should fix the primary, calmly.
		t.Notify(CheckFallbackActivated, alert.Warn, withCause(activatedMessage(cfg, why, res.VerifyAttempts, resumedAfter), cause))
	case errors.Is(err, service.ErrNotPermitted):
		t.Unknown(CheckFallbackDown, "fallback_not_permitted",
			withCause(fmt.Sprintf("promoting %s (%s) not permitted by %s: %v; nothing may be serving; run the probes as the servers' owner, or install the polkit rule (README, Linux)",
				cfg.FallbackLabel, why, g.mgr.Kind(), err), cause),
			append(attrs, "rc", rc)...)
	case errors.Is(err, service.ErrUnavailable):
		t.ManagerAnswered(g.mgr.Kind(), err)
		t.Fail(CheckFallbackDown, "fallback_failed", alert.Critical,
			withCause(fmt.Sprintf("could not promote %s (%s): %v; a human is needed", cfg.FallbackLabel, why, err), cause),
			append(attrs, "rc", rc)...)
	case errors.Is(err, service.ErrUnverified):
		t.Fail(CheckFallbackDown, "fallback_down", alert.Critical,
			withCause(fmt.Sprintf("promoted %s because %s, but it does not serve: %v; a human is needed", cfg.FallbackLabel, why, err), cause),
			append(attrs, "verify_attempts", res.VerifyAttempts, "rc", rc)...)
	default:
		t.Fail(CheckFallbackDown, "fallback_failed", alert.Critical,
			withCause(fmt.Sprintf("could not promote %s (%s): %v; a human is needed", cfg.FallbackLabel, why, err), cause),
			append(attrs, "rc", rc)...)
	}
}

// lockStep is the step the fallback lock records after res, for the log.
func lockStep(res *service.Result) string {
	if res == nil || res.Lock == nil {
		return ""
	}
	return res.Lock.Step
}

func activatedMessage(cfg probe.Common, why string, attempts int, resumedAfter string) string {
	msg := fmt.Sprintf("primary %s can never serve (%s); fallback %s promoted", cfg.PrimaryLabel, why, cfg.FallbackLabel)
	if resumedAfter != "" {
		msg += fmt.Sprintf(" (an interrupted promotion, finished after step %s)", resumedAfter)
	}
	if attempts > 0 {
		msg += " and serving"
	}
	return msg + "; fix the primary, then run council-guardian restore-primary"
}

// watchFallback runs while the fallback lock exists: finish a promotion
// that was cut short, then probe the fallback, never promote again, call
// for a human if it is down too.
func (g *guardian) watchFallback(ctx context.Context) error {
	g.t.SetRestarts(g.restartsTotal())
	t, cfg := g.t, g.t.Common
	// The lock is written before the fallback is started: if another
	// probe is still promoting (it holds the remediation lock), wait for
	// it rather than report a fallback that is merely not up yet.
	if err := g.awaitRemediation(ctx); err != nil {
		t.Log.Warn("remediation_in_progress", "lock", cfg.RemediationLock, "error", err.Error())
	}
	lk, lerr := service.ReadFallbackLock(cfg.FallbackLock)
	if lerr == nil && !lk.Done() {
		// A promotion was cut short: finish it before watching.
		if over, err := g.resume(ctx, lk); over || err != nil {
			return err
		}
	}
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
	live := probeModels(ctx, c, g.s.Timeout, "")
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

// fallbackClient is the transport to the fallback: bearer (or plain) to
// --fallback-url, which defaults to the primary's bearer URL because the
// fallback binds the same port.
func fallbackClient(cfg probe.Common, s settings) (*transport.Client, error) {
	url := s.FallbackURL
	if url == "" {
		url = cfg.URL
	}
	return transport.Resolve(transport.Config{Mode: transport.Bearer, URL: url, TokenFile: cfg.TokenFile, CACert: cfg.CACert})
}
