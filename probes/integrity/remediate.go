package integrity

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/eventlog"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/openai"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// Remediation events.
const (
	eventPromotePending = "promote_pending"
	eventPromoteSkipped = "promote_skipped"
	eventPromoting      = "promoting_fallback"
	eventPromoteDryRun  = "promote_dry_run"
	eventPromoteFailed  = "promote_failed"
	eventFallback       = "fallback_activated"
	// eventResuming: the fallback lock records a promotion that did not
	// finish (its prober was killed mid-way); this tick finishes it.
	eventResuming = "promotion_resuming"
	// eventInterrupted: a signal stopped this tick's promotion between two
	// steps of the service manager; the lock records where, and the next
	// tick resumes.
	eventInterrupted = "promotion_interrupted"
)

// The promotion's channels are the guardian's, so an operator sees one
// "fallback activated" notice (warn: the council serves again) or one
// critical "fallback down" whichever probe promoted.
const (
	checkFallbackActivated = suite.CheckFallbackActivated
	checkFallbackDown      = suite.CheckFallbackDown
)

// remediating are the checks whose failure means the next respawn will
// fail: only these promote the fallback. metallib_missing, stale_process
// and manifest_invalid are fixed by a rebuild or a restart and alert only.
var remediating = []string{CheckBinaryMissing, CheckSignatureInvalid}

// promoteReasons returns the summaries of the remediating checks that
// failed this tick (at error: an unknown or skipped check is no evidence
// against the binary) and the longest failing streak among them.
func promoteReasons(t *probe.Tick) (reasons []string, streak int) {
	for _, r := range t.Results() {
		for _, c := range remediating {
			if r.Check != c || r.Status != probe.StatusFail || r.Severity.Rank() < alert.Error.Rank() {
				continue
			}
			reasons = append(reasons, r.Check+": "+r.Summary)
			if ch := t.Channel(c); ch != nil && ch.Consecutive > streak {
				streak = ch.Consecutive
			}
		}
	}
	return reasons, streak
}

// remediate promotes the fallback once when a remediating check failed.
// Never from the fallback: if the fallback lock exists the fallback already
// serves and the probe only reports, unless the lock says that promotion
// was cut short, which this tick then finishes.
func remediate(ctx context.Context, t *probe.Tick, s settings, r service.Manager) {
	if lk, err := service.ReadFallbackLock(t.Common.FallbackLock); err == nil && !lk.Done() {
		// A promotion was cut short (whoever started it): finish it,
		// whatever this tick found.
		resume(ctx, t, s, r, lk)
		return
	}
	reasons, streak := promoteReasons(t)
	if len(reasons) == 0 {
		return
	}
	why := strings.Join(reasons, "; ")
	if streak < s.PromoteAfter {
		t.Log.Warn(eventPromotePending, "reason", why, "consecutive", streak, "promote_after", s.PromoteAfter)
		return
	}
	if lk, err := service.ReadFallbackLock(t.Common.FallbackLock); lk != nil || (err != nil && !errors.Is(err, fs.ErrNotExist)) {
		attrs := []any{"reason", "fallback lock exists: the fallback already serves; never fall back from the fallback", "fallback_lock", t.Common.FallbackLock}
		if lk != nil && lk.Who != "" {
			attrs = append(attrs, "lock_who", lk.Who, "lock_when", lk.When.Format(time.RFC3339), "lock_why", lk.Why)
		}
		if err != nil {
			attrs = append(attrs, "lock_error", err.Error())
		}
		t.Log.Warn(eventPromoteSkipped, attrs...)
		return
	}

	t.Log.Warn(eventPromoting, "reason", why, "primary", t.Common.PrimaryLabel, "fallback", t.Common.FallbackLabel, "dry_run", t.DryRun())
	res, err := r.PromoteFallback(ctx, promoteOpts(t, s, r, why))
	if errors.Is(err, service.ErrAlreadyOnFallback) {
		// Another probe promoted between our look and the lock.
		t.Log.Warn(eventPromoteSkipped, "reason", err.Error(), "steps", res.Steps)
		return
	}
	reportPromotion(ctx, t, why, "", res, err)
}

// promoteOpts are this probe's PromoteFallback and ResumePromotion options.
func promoteOpts(t *probe.Tick, s settings, r service.Manager, why string) service.PromoteOpts {
	return service.PromoteOpts{
		Primary: t.Common.PrimaryLabel, Fallback: t.Common.FallbackLabel, FallbackDefinition: t.Common.FallbackPlist,
		FallbackLockPath: t.Common.FallbackLock, RemediationLockPath: t.Common.RemediationLock,
		Who: "council-integrity", Why: why,
		Verify: fallbackServes(r, t.Common.FallbackLabel, s.FallbackURL),
	}
}

// resume finishes a promotion whose fallback lock stops short of "done"
// (the probe promoting was killed between two launchctl steps): the
// remaining steps under the shared remediation lock, then verify, then the
// promotion's own notice.
func resume(ctx context.Context, t *probe.Tick, s settings, r service.Manager, lk *service.FallbackLock) {
	why := lk.Why
	if why == "" {
		why = "unknown reason"
	}
	t.Log.Warn(eventResuming, "step", lk.Step, "lock_who", lk.Who, "lock_when", lk.When.UTC().Format(time.RFC3339), "lock_why", lk.Why,
		"primary", t.Common.PrimaryLabel, "fallback", t.Common.FallbackLabel, "dry_run", t.DryRun())
	res, err := r.ResumePromotion(ctx, promoteOpts(t, s, r, why))
	if errors.Is(err, service.ErrNothingToResume) {
		// Another probe finished it while we waited for the lock.
		t.Log.Info(eventPromoteSkipped, "reason", err.Error(), "steps", res.Steps)
		return
	}
	reportPromotion(ctx, t, why, lk.Step, res, err)
}

// reportPromotion reports how a promotion (or, with resumedAfter set, the
// resume of one interrupted after that step) ended.
func reportPromotion(ctx context.Context, t *probe.Tick, why, resumedAfter string, res *service.Result, err error) {
	steps := res.Steps
	if ctx.Err() != nil {
		// A signal, not a verdict: the manager's step under way finished
		// and the lock records it; the next tick resumes.
		step := ""
		if res.Lock != nil {
			step = res.Lock.Step
		}
		t.Log.Warn(eventInterrupted, "step", step, "steps", steps, "reason", "signal received; the next tick finishes the promotion")
		return
	}
	resumed := ""
	if resumedAfter != "" {
		resumed = fmt.Sprintf(" (an interrupted promotion, finished after step %s)", resumedAfter)
	}
	switch {
	case err != nil && errors.Is(err, service.ErrNotPermitted):
		// Our side: the manager refused for want of privilege. UNKNOWN,
		// said plainly, never a silent no-op.
		t.Log.Log(ctx, eventlog.LevelCritical, eventPromoteFailed, "check", checkFallbackDown, "error", err.Error(), "steps", steps, "not_permitted", true)
		t.Unknown(checkFallbackDown, "promote_not_permitted", fmt.Sprintf("promoting %s not permitted by the service manager: %v (was promoting because %s)%s; run the probes as the servers' owner, or install the polkit rule (README, Linux)",
			t.Common.FallbackLabel, err, why, resumed))
	case err != nil:
		// A one-off notice, not an open channel: integrity never watches
		// the fallback afterwards (the guardian does, on fallback_down).
		t.Log.Log(ctx, eventlog.LevelCritical, eventPromoteFailed, "check", checkFallbackDown, "error", err.Error(), "steps", steps)
		t.Notify(checkFallbackDown, alert.Critical, fmt.Sprintf("promoting %s failed: %v (was promoting because %s)%s", t.Common.FallbackLabel, err, why, resumed))
		t.SetExit(probe.ExitCritical, "fallback promotion failed")
	case t.DryRun():
		t.Log.Info(eventPromoteDryRun, "steps", steps)
	default:
		msg := fmt.Sprintf("fallback %s activated and serving; primary %s booted out because %s%s. Fix the binary, then restore the primary.",
			t.Common.FallbackLabel, t.Common.PrimaryLabel, why, resumed)
		t.Log.Warn(eventFallback, "check", checkFallbackActivated, "detail", msg, "steps", steps, "verify_attempts", res.VerifyAttempts,
			"resumed_after", resumedAfter)
		t.Notify(checkFallbackActivated, alert.Warn, msg)
		t.SetExit(probe.ExitCritical, "fallback activated; a human must restore the primary")
	}
}

// fallbackServes is PromoteFallback's verify: the service manager runs
// the fallback with a pid, and (when url is set) its /v1/models answers like an
// OpenAI-compatible server: a 200 with a JSON model list, or 401/403 (the
// probe holds no credentials, and a server asking for them is serving).
// Anything else (a 404 or HTML from some other listener, a 5xx) is not a
// heal; the guardian checks the model list itself with its credentials.
// The request goes through pkg/server/openai over a credential-free transport,
// which refuses redirects and proxies like every council request.
func fallbackServes(r service.Manager, label, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		st, err := r.Status(ctx, label)
		if err != nil {
			return err
		}
		if !st.Running() {
			return fmt.Errorf("%s is %q with no pid", label, st.State)
		}
		if url == "" {
			return nil
		}
		tc, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: url})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		where := redact.URL(strings.TrimRight(url, "/"))
		models, err := openai.New(tc).ListModels(ctx)
		switch {
		case openai.ClassOf(err) == openai.Auth:
			return nil
		case err != nil:
			return fmt.Errorf("fallback at %s: %w", where, err)
		case models.Data == nil:
			return fmt.Errorf("fallback at %s: GET %s: 200 but not a JSON model list", where, openai.ModelsPath)
		}
		return nil
	}
}
