package guardian

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/server/backend"
)

// The backend's own channels: each warns (or informs) on its own and never
// restarts anything. A model that is not loaded, or only partly on the GPU,
// is something a human decides about; a restart would at best reload it.
const (
	CheckModelNotLoaded = "model_not_loaded"
	CheckModelOnCPU     = "model_on_cpu"
	CheckModelUnloading = "model_unloading"
)

// loadingKey holds, in the guardian's state, since when the server has
// said it is loading. It is not a channel.
const loadingKey = "backend_loading"

// defaultMaxLoading is how long a server may say it is loading before that
// counts as a failure.
const defaultMaxLoading = 10 * time.Minute

// backendAskTimeout bounds each question to the server's own endpoints.
const backendAskTimeout = 5 * time.Second

// listedModel is the --model that /v1/models must list. Only the generic
// backend is judged that way: the others say which model is loaded, and
// mlx-lm and Ollama list downloads there, not the loaded model.
func (g *guardian) listedModel() string {
	if g.t.Server == nil || g.t.Backend.Kind == backend.Generic {
		return g.t.Common.Model
	}
	return ""
}

// backendSettles asks the server about itself after the liveness probe.
// It returns true when the answer settles the tick (the server says it is
// loading, within --max-loading). It may turn a live answer into a failure
// (vLLM's engine is dead though /v1/models answers; loading past the
// limit), which the caller then escalates as any other. When the server
// serves, it checks the expected model's residency on its own channels.
func (g *guardian) backendSettles(ctx context.Context, live *liveness) bool {
	t := g.t
	// A server that did not answer at all (refused, hung) has nothing to
	// say about itself: today's rules (startup grace, restart) apply.
	if t.Server == nil || t.Backend.Kind == backend.Generic || live.Reason == "timeout" || live.Reason == "connect" {
		return false
	}
	actx, cancel := context.WithTimeout(ctx, backendAskTimeout)
	defer cancel()
	r, err := t.Server.Readiness(actx)
	if err != nil {
		t.Log.Warn("backend_unanswered", "what", "readiness", "error", err.Error())
		r = backend.Readiness{State: backend.Unknown}
	}
	if r.State != backend.Loading {
		g.setLoadingSince(time.Time{})
	}
	g.recordServerMetrics(ctx)
	switch r.State {
	case backend.Loading:
		since := g.loadingSince()
		if since.IsZero() {
			since = t.Now()
			g.setLoadingSince(since)
		}
		limit := g.s.MaxLoading
		loading := t.Now().Sub(since)
		if loading <= limit {
			t.Log.Info("server_loading", "check", CheckUnreachable, "detail", r.Detail, "loading_s", int(loading.Seconds()),
				"max_loading_s", int(limit.Seconds()), "http_status", r.HTTPStatus)
			t.OKSummary(fmt.Sprintf("server says it is loading (%q) for %s of --max-loading %s: not a failure",
				r.Detail, loading.Round(time.Second), limit))
			return true
		}
		live.Reason = "loading_too_long"
		live.Err = fmt.Errorf("server still loading after %s (--max-loading %s): %s", loading.Round(time.Second), limit, r.Detail)
		return false
	case backend.Failed:
		live.Reason = "backend_failed"
		live.Err = fmt.Errorf("server says it cannot serve (%s /health HTTP %d): %s", t.Backend.Kind, r.HTTPStatus, r.Detail)
		return false
	}
	if live.OK() {
		g.checkResidency(ctx)
	}
	return false
}

// recordServerMetrics keeps what the server says about its load for the
// textfile (llama-server, vLLM /metrics); what it does not export stays
// absent.
func (g *guardian) recordServerMetrics(ctx context.Context) {
	actx, cancel := context.WithTimeout(ctx, backendAskTimeout)
	defer cancel()
	m, err := g.t.Server.Metrics(actx)
	if err != nil {
		g.t.Log.Warn("backend_unanswered", "what", "metrics", "error", err.Error())
		return
	}
	g.t.ServerMetrics = m
}

// checkResidency reports residency where the backend can tell: --model
// not loaded, and for --model, or without it every model the server lists
// as loaded (what an empty --model stands for: the server's own), whether
// it sits in GPU memory (checkGPU) and whether it is about to be unloaded.
func (g *guardian) checkResidency(ctx context.Context) {
	t := g.t
	want := t.Common.Model
	actx, cancel := context.WithTimeout(ctx, backendAskTimeout)
	defer cancel()
	ms, err := t.Server.Models(actx)
	if err != nil {
		t.Log.Warn("backend_unanswered", "what", "models", "error", err.Error())
		return
	}
	if !ms.Known {
		return
	}
	var checked []backend.Model
	if want != "" {
		m, found := ms.Find(want)
		if !found || m.Residency != backend.Resident {
			state := "not listed"
			if found {
				state = string(m.Residency)
			}
			t.Fail(CheckModelNotLoaded, CheckModelNotLoaded, alert.Warn,
				fmt.Sprintf("%s reports model %q %s", t.Backend.Kind, want, state), "model", want)
			return
		}
		t.Clear(CheckModelNotLoaded)
		checked = []backend.Model{m}
	} else {
		// No model expected: none can be missing; a channel left open by
		// an earlier --model closes.
		t.Clear(CheckModelNotLoaded)
		seen := map[string]bool{}
		for _, m := range ms.Models {
			// The first entry of a name is the newest (Ollama lists a
			// replaced model's old runner after the new one).
			if m.Residency == backend.Resident && !seen[m.ID] {
				seen[m.ID] = true
				checked = append(checked, m)
			}
		}
	}
	g.checkGPU(checked)
	g.checkUnloading(checked)
}

// checkUnloading informs when a checked model will be unloaded within one
// guardian interval (its idle keep-alive).
func (g *guardian) checkUnloading(checked []backend.Model) {
	t := g.t
	var soon []string
	attrs := []any{}
	for _, m := range checked {
		if left := m.ExpiresAt.Sub(t.Now()); !m.ExpiresAt.IsZero() && left <= t.Probe.Every() {
			soon = append(soon, fmt.Sprintf("%q in %s", m.ID, left.Round(time.Second)))
			attrs = append(attrs, "model", m.ID, "expires_at", m.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	if len(soon) == 0 {
		t.Clear(CheckModelUnloading)
		return
	}
	t.Fail(CheckModelUnloading, CheckModelUnloading, alert.Info,
		fmt.Sprintf("%s will unload model %s (idle keep-alive)", t.Backend.Kind, strings.Join(soon, ", ")), attrs...)
}

// forgetBackend drops the cached detection after a restart: the server
// that comes back may be another one (an upgrade, a changed plist), so the
// next tick detects again.
func (g *guardian) forgetBackend() {
	if err := backend.Forget(g.t.Common.StateDir); err != nil {
		g.t.Log.Warn("backend_cache_unremovable", "error", err.Error())
	}
}

// loadingSince is when the server began to say it is loading; a time
// after now (a clock stepped back) is taken as now, or the server would
// be "loading for -4217h" and never pass --max-loading.
func (g *guardian) loadingSince() time.Time {
	var since time.Time
	if raw, ok := g.t.State.Data[loadingKey]; ok {
		json.Unmarshal(raw, &since) // a bad value reads as "not loading"
	}
	if past := g.t.PastTime(loadingKey, since); !past.Equal(since) {
		since = past
		g.setLoadingSince(since)
	}
	return since
}

func (g *guardian) setLoadingSince(since time.Time) {
	if since.IsZero() {
		delete(g.t.State.Data, loadingKey)
		return
	}
	b, _ := json.Marshal(since.UTC())
	if g.t.State.Data == nil {
		g.t.State.Data = map[string]json.RawMessage{}
	}
	g.t.State.Data[loadingKey] = b
}
