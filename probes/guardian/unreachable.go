package guardian

import (
	"context"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
)

// watchPrimary probes the primary and escalates its failures.
func (g *guardian) watchPrimary(ctx context.Context) error {
	t, s := g.t, g.s
	rl := g.rateLimit()
	t.SetRestarts(g.restartsTotal())

	live := probeModels(ctx, t.Client, s.Timeout, g.listedModel())
	if g.backendSettles(ctx, &live) {
		return nil // the server says it is loading (backend.go)
	}
	ms := live.Elapsed.Milliseconds()
	t.Perf("probe_ms", float64(ms), "ms")
	if live.OK() {
		t.Pass(CheckUnreachable, "probe_ok", "probe_ms", ms, "consecutive", 0, "http_status", live.Status, "models", len(live.Models))
		// Serving again ends every remediation episode.
		for _, c := range []string{CheckRestartUnverified, CheckRateLimit, CheckFallbackDown, CheckAuth} {
			t.Clear(c)
		}
		t.OKSummary(fmt.Sprintf("%d model(s) in %dms over %s", len(live.Models), ms, t.Client.Kind))
		// /v1/models is green: did the service manager restart it behind
		// our back, and is chat wedged behind the green light?
		g.checkCrashed(ctx)
		return g.checkWedged(ctx, rl)
	}
	if ctx.Err() != nil {
		return ctx.Err() // a signal, not a verdict on the server
	}
	if live.Auth() {
		g.authRefused(live, "primary")
		return nil
	}

	prev := 0
	if c := t.Channel(CheckUnreachable); c != nil {
		prev = c.Consecutive
	}
	tail := g.primaryLogTail(ctx)
	if s.BusyWindow > 0 {
		if age, busy := busyInLog(tail, s.BusyMarker, s.BusyIgnore, t.Now(), s.BusyWindow); busy {
			t.Log.Info("probe_skip_busy", "check", CheckUnreachable, "age_ms", age.Milliseconds(), "probe_ms", ms,
				"http_status", live.Status, "reason", live.Reason, "error", live.Err.Error(), "consecutive", prev)
			t.OKSummary(fmt.Sprintf("probe failed (%s) but the primary completed a request %s ago: busy, not escalated",
				live.Reason, age.Round(time.Second)))
			return nil
		}
	}

	consecutive := prev + 1
	sev := alert.Warn
	var cause deathCause
	if consecutive >= s.RestartAfter {
		sev = alert.Error
		// Why it died, read before anything is kickstarted or booted out.
		cause = g.causeFrom(ctx, g.primaryInfo(ctx), g.causeSince(), tail)
	}
	t.Fail(CheckUnreachable, "probe_fail", sev,
		withCause(fmt.Sprintf("primary not serving (%d in a row): %v", consecutive, live.Err), cause),
		append([]any{"probe_ms", ms, "http_status", live.Status, "reason", live.Reason, "url", redact.URL(t.Client.BaseURL)}, cause.attrs()...)...)
	if consecutive < s.RestartAfter {
		return nil
	}

	// Escalate: a binary that can never serve is not restarted.
	if why, evidence := g.neverServes(tail); why != "" {
		return g.promote(ctx, why, evidence, cause)
	}
	// A primary still loading is not restarted (that would restart the load).
	if pid, age, starting := g.startingUp(ctx, s.StartupGrace); starting {
		g.skipStarting(pid, age, s.StartupGrace, consecutive)
		return nil
	}
	return g.restart(ctx, rl, consecutive, cause)
}
