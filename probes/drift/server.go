package drift

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/backend"
)

// The server identity checks.
const (
	// CheckServerChanged is news, not a failing state: one info notice
	// each time the server's version, build or a model's weights differ
	// from what the previous tick recorded.
	CheckServerChanged = "server_changed"
	// CheckUnexpectedServer (error): the server reports a version and build
	// that no --expect-server pattern allows.
	CheckUnexpectedServer = "unexpected_server"
	// CheckUnexpectedModel (error): a loaded model's digest is not one
	// --expect-model-digest allows.
	CheckUnexpectedModel = "unexpected_model"
	// CheckAuth (UNKNOWN): the server refused our credentials when asked
	// who it is. Our fault, not the server's.
	CheckAuth = probe.CheckAuth
)

// identityKey is where the last known identity lives in drift's state.
const identityKey = "server_identity"

// serverTimeout bounds the questions to the server: it is a side dish of
// drift's file and launchd checks, and a hung server (the guardian's
// business) must not hold the tick for the whole --timeout.
const serverTimeout = 10 * time.Second

// maxRecordedModels bounds the models remembered in state: an Ollama host
// can list dozens of downloads, and only resident or expected ones count.
const maxRecordedModels = 16

// serverIdentity is what drift remembers about the server between ticks.
// Every field may be empty, which means "not reported": a field that goes
// from known to unknown (an Ollama model unloaded after its keep-alive, a
// generic detection while the server restarts) is not a change, and the
// last known value is kept.
type serverIdentity struct {
	// Backend is the detected or configured kind; "generic" is recorded
	// as empty, since it is the absence of evidence.
	Backend string `json:"backend,omitempty"`
	Version string `json:"version,omitempty"`
	Build   string `json:"build,omitempty"`
	// Models are the resident (or --model) models' weights by model id.
	Models map[string]modelIdentity `json:"models,omitempty"`
}

// modelIdentity is one model's weights as the server reports them, keyed
// by name and digest: Digest is the name's current weights, AlsoListed the
// other digests the server listed under the same name at the last tick.
// After `ollama create` replaces a loaded model, Ollama's /api/ps lists the
// name twice, the new digest first and the old one (its runner still
// loaded until its keep-alive ends) second; the old digest is then known,
// and its lingering is not a change.
type modelIdentity struct {
	Path       string    `json:"path,omitempty"`
	Digest     string    `json:"digest,omitempty"`
	AlsoListed []string  `json:"also_listed,omitempty"`
	SeenAt     time.Time `json:"seen_at"`
}

// digests are the digests listed for the model: Digest first.
func (m modelIdentity) digests() []string {
	var out []string
	if m.Digest != "" {
		out = append(out, m.Digest)
	}
	for _, d := range m.AlsoListed {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// identityChange is one field that differs between two known values.
type identityChange struct {
	Field    string // "backend", "version", "build", "<model> path", "<model> digest"
	From, To string
}

func (c identityChange) String() string {
	return fmt.Sprintf("%s %s -> %s", c.Field, shortDigest(c.From), shortDigest(c.To))
}

// compareIdentity returns the fields known in both prev and cur whose
// values differ, and the identity to record: prev updated with every value
// cur knows. Models are compared by id, and each id's digests by value (see
// compareDigests); a model that appears or disappears is not a change
// (Ollama loads and unloads them on demand).
func compareIdentity(prev, cur serverIdentity, now time.Time) (changes []identityChange, merged serverIdentity) {
	merged = serverIdentity{Backend: prev.Backend, Version: prev.Version, Build: prev.Build, Models: map[string]modelIdentity{}}
	field := func(name, was, is string, keep *string) {
		if is == "" {
			return
		}
		if was != "" && was != is {
			changes = append(changes, identityChange{Field: name, From: was, To: is})
		}
		*keep = is
	}
	field("backend", prev.Backend, cur.Backend, &merged.Backend)
	field("version", prev.Version, cur.Version, &merged.Version)
	field("build", prev.Build, cur.Build, &merged.Build)
	for id, m := range prev.Models {
		merged.Models[id] = m
	}
	ids := make([]string, 0, len(cur.Models))
	for id := range cur.Models {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m, was := cur.Models[id], prev.Models[id]
		keep := was
		field(id+" path", was.Path, m.Path, &keep.Path)
		if listed := m.digests(); len(listed) > 0 {
			c, digest, also := compareDigests(was, listed)
			if c != nil {
				c.Field = id + " digest"
				changes = append(changes, *c)
			}
			keep.Digest, keep.AlsoListed = digest, also
		}
		keep.SeenAt = now.UTC()
		merged.Models[id] = keep
	}
	trimModels(merged.Models)
	if len(merged.Models) == 0 {
		merged.Models = nil
	}
	return changes, merged
}

// compareDigests judges the digests listed under one name against what was
// recorded for it: a digest neither current nor listed beside it last time
// is new weights under that name, a change (was's current -> the first
// such, which becomes current). Otherwise the current digest stays. The
// other listed digests are recorded beside it.
func compareDigests(was modelIdentity, listed []string) (change *identityChange, digest string, also []string) {
	known := was.digests()
	var fresh []string
	for _, d := range listed {
		if !slices.Contains(known, d) {
			fresh = append(fresh, d)
		}
	}
	switch {
	case len(fresh) > 0 && was.Digest != "":
		change = &identityChange{From: was.Digest, To: fresh[0]}
		digest = fresh[0]
	case len(fresh) > 0:
		digest = fresh[0] // first sight
	default:
		digest = was.Digest
	}
	for _, d := range listed {
		if d != digest {
			also = append(also, d)
		}
	}
	return change, digest, also
}

// trimModels keeps the maxRecordedModels most recently seen models (ties
// broken by id, so the choice is deterministic).
func trimModels(ms map[string]modelIdentity) {
	if len(ms) <= maxRecordedModels {
		return
	}
	ids := make([]string, 0, len(ms))
	for id := range ms {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := ms[a].SeenAt.Compare(ms[b].SeenAt); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, id := range ids[:len(ids)-maxRecordedModels] {
		delete(ms, id)
	}
}

// identityOf builds what the server says about itself: its identity, and
// the path and digest of each model that is resident or is --model.
func identityOf(kind backend.Kind, id backend.Identity, ms backend.Models, model string) serverIdentity {
	s := serverIdentity{Version: id.Version, Build: id.Build, Models: map[string]modelIdentity{}}
	if kind != backend.Generic {
		s.Backend = string(kind)
	}
	want, wanted := ms.Find(model)
	for _, m := range ms.Models {
		isWanted := wanted && m.ID == want.ID
		if (m.Residency != backend.Resident && !isWanted) || (m.Path == "" && m.Digest == "") {
			continue
		}
		rec, seen := s.Models[m.ID]
		switch {
		case !seen:
			s.Models[m.ID] = modelIdentity{Path: m.Path, Digest: m.Digest}
		case m.Digest != "" && !slices.Contains(rec.digests(), m.Digest):
			// The same name listed again with other weights: Ollama
			// after `ollama create` replaced a loaded model.
			if rec.Digest == "" {
				rec.Digest = m.Digest
			} else {
				rec.AlsoListed = append(rec.AlsoListed, m.Digest)
			}
			s.Models[m.ID] = rec
		}
	}
	return s
}

// checkServer asks the server who it is, reports a change since the last
// tick at info and a version or model the operator's expectations exclude
// as an error, and returns its summary and the change (none when the
// server was not asked or did not change). A server that cannot be asked
// is the guardian's and the canary's business: drift logs why and leaves
// its channels as they are.
func checkServer(ctx context.Context, t *probe.Tick, cfg settings) (string, []identityChange) {
	if t.Server == nil {
		t.Log.Info("server_identity_skipped", "reason", "no transport to the server (see the transport channel)")
		return "server not asked", nil
	}
	if t.Backend.DetectError != "" && t.Backend.Kind == backend.Generic {
		t.Log.Info("server_identity_skipped", "reason", "backend detection failed", "error", t.Backend.DetectError)
		return "server not reachable", nil
	}
	sctx, cancel := context.WithTimeout(ctx, min(serverTimeout, cfg.Timeout))
	defer cancel()
	id, err := t.Server.Identity(sctx)
	if err != nil {
		if errors.Is(err, backend.ErrUnauthorized) {
			t.Unknown(CheckAuth, "auth_refused", fmt.Sprintf("the server refused drift's credentials when asked its version: %v", err))
			return "server refused our credentials", nil
		}
		t.Log.Info("server_identity_skipped", "reason", "the server did not answer", "error", err.Error())
		return "server not reachable", nil
	}
	t.Clear(CheckAuth)
	ms, err := t.Server.Models(sctx)
	if err != nil {
		t.Log.Info("server_models_unavailable", "error", err.Error())
	}
	cur := identityOf(t.Backend.Kind, id, ms, t.Common.Model)

	var prev serverIdentity
	found, err := t.State.Get(identityKey, &prev)
	if err != nil {
		t.Log.Warn("server_identity_reset", "error", err.Error(), "reason", "the recorded identity is unreadable; recording afresh")
		prev, found = serverIdentity{}, false
	}
	for id, m := range prev.Models {
		// A model seen "after now" would be kept over the ones seen since.
		m.SeenAt = t.PastTime(identityKey+".models."+id+".seen_at", m.SeenAt)
		prev.Models[id] = m
	}
	changes, merged := compareIdentity(prev, cur, t.Now())
	if err := t.State.Put(identityKey, merged); err != nil {
		t.Log.Warn("server_identity_unsaved", "error", err.Error())
	}
	attrs := []any{"version", cur.Version, "build", cur.Build, "models", len(cur.Models)}
	switch {
	case !found:
		t.Log.Info("server_identity_recorded", attrs...)
	case len(changes) > 0:
		msg := "the council server changed since the last drift tick: " + describe(changes)
		t.Log.Info(CheckServerChanged, append([]any{"check", CheckServerChanged, "detail", msg}, attrs...)...)
		t.Notify(CheckServerChanged, alert.Info, msg)
	default:
		t.Log.Info("server_identity_unchanged", attrs...)
	}

	reportExpectedServer(t, cfg.ExpectServer, cur)
	reportExpectedModels(t, cfg.ExpectDigests, cur, ms, t.Common.Model)
	return describeServer(cur), changes
}

// describeServer is the OK summary part of the identity check.
func describeServer(s serverIdentity) string {
	who := s.Backend
	if who == "" {
		who = "server"
	}
	switch {
	case s.Version != "":
		return who + " " + s.Version
	case s.Build != "":
		return who + " build " + s.Build
	}
	return who + " (no version reported)"
}

// reportExpectedServer judges the server's version and build against the
// --expect-server patterns (path.Match syntax: "0.12.*", "b6*"). No
// patterns: the channel closes.
func reportExpectedServer(t *probe.Tick, patterns []string, s serverIdentity) {
	if len(patterns) == 0 {
		closeIfOpen(t, CheckUnexpectedServer)
		return
	}
	if s.Version == "" && s.Build == "" {
		t.Unknown(CheckUnexpectedServer, "server_version_unknown",
			fmt.Sprintf("--expect-server is set, but the %s server reports no version or build to check it against", kindName(t)))
		return
	}
	for _, p := range patterns {
		if matchAny(p, s.Version, s.Build) {
			t.Pass(CheckUnexpectedServer, "server_expected", "version", s.Version, "build", s.Build, "pattern", p)
			return
		}
	}
	t.Fail(CheckUnexpectedServer, "server_unexpected", alert.Error,
		fmt.Sprintf("the server reports %s, which --expect-server (%s) does not allow", versionBuild(s), strings.Join(patterns, ", ")),
		"version", s.Version, "build", s.Build)
}

// reportExpectedModels judges each checked model's digest against the
// --expect-model-digest values: --model when set, else every resident
// model.
func reportExpectedModels(t *probe.Tick, digests []string, s serverIdentity, ms backend.Models, model string) {
	if len(digests) == 0 {
		closeIfOpen(t, CheckUnexpectedModel)
		return
	}
	var checked []string
	if m, ok := ms.Find(model); model != "" && ok {
		checked = []string{m.ID}
	} else if model == "" {
		for _, m := range ms.Models {
			if m.Residency == backend.Resident {
				checked = append(checked, m.ID)
			}
		}
	}
	if len(checked) == 0 {
		what := "no loaded model"
		if model != "" {
			what = fmt.Sprintf("no model %q", model)
		}
		t.Unknown(CheckUnexpectedModel, "model_digest_unknown",
			fmt.Sprintf("--expect-model-digest is set, but the %s server reports %s to check", kindName(t), what))
		return
	}
	var bad []string
	for _, id := range checked {
		d := s.Models[id].Digest
		if d == "" {
			t.Unknown(CheckUnexpectedModel, "model_digest_unknown",
				fmt.Sprintf("--expect-model-digest is set, but the %s server reports no digest for %s", kindName(t), id), "model", id)
			return
		}
		if !digestAllowed(d, digests) {
			bad = append(bad, fmt.Sprintf("%s has digest %s", id, shortDigest(d)))
		}
	}
	if len(bad) > 0 {
		t.Fail(CheckUnexpectedModel, "model_unexpected", alert.Error,
			fmt.Sprintf("%s, which --expect-model-digest does not allow", strings.Join(bad, "; ")), "models", strings.Join(checked, ","))
		return
	}
	t.Pass(CheckUnexpectedModel, "model_expected", "models", strings.Join(checked, ","))
}

// closeIfOpen closes a channel whose check is no longer asked for (the
// operator removed the flag), announcing the recovery if it had alerted.
func closeIfOpen(t *probe.Tick, check string) {
	if t.Channel(check) != nil {
		t.Clear(check)
		t.Forget(check)
	}
}

func kindName(t *probe.Tick) string { return string(t.Backend.Kind) }

func versionBuild(s serverIdentity) string {
	switch {
	case s.Version != "" && s.Build != "":
		return fmt.Sprintf("version %s (build %s)", s.Version, s.Build)
	case s.Version != "":
		return "version " + s.Version
	}
	return "build " + s.Build
}

func matchAny(pattern string, values ...string) bool {
	for _, v := range values {
		if v == "" {
			continue
		}
		if ok, _ := path.Match(pattern, v); ok {
			return true
		}
	}
	return false
}

// normalizeDigest lowercases a digest and drops a "sha256:" prefix, as
// Ollama and the OCI registries write them either way.
func normalizeDigest(d string) string {
	return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), "sha256:")
}

// minDigestPrefix is the shortest digest prefix --expect-model-digest
// accepts (what `ollama list` prints).
const minDigestPrefix = 12

// digestAllowed: the reported digest equals, or starts with, one of the
// allowed ones (already normalized).
func digestAllowed(got string, allowed []string) bool {
	got = normalizeDigest(got)
	for _, a := range allowed {
		if strings.HasPrefix(got, a) {
			return true
		}
	}
	return false
}

// parseDigests validates --expect-model-digest values: hex, at least
// minDigestPrefix digits, optionally "sha256:"-prefixed.
func parseDigests(values []string) ([]string, error) {
	out := make([]string, 0, len(values))
	for _, v := range values {
		d := normalizeDigest(v)
		if len(d) < minDigestPrefix || strings.Trim(d, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("bad --expect-model-digest %q: want a sha256 hex digest or a prefix of at least %d hex digits", v, minDigestPrefix)
		}
		out = append(out, d)
	}
	return out, nil
}

// parseServerPatterns validates --expect-server values (path.Match syntax).
func parseServerPatterns(values []string) ([]string, error) {
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			return nil, errors.New("bad --expect-server \"\": want a version or build, or a pattern such as 0.12.*")
		}
		if _, err := path.Match(v, ""); err != nil {
			return nil, fmt.Errorf("bad --expect-server %q: %v", v, err)
		}
	}
	return values, nil
}

// shortDigest shortens a 64-digit digest for a message; other values are
// returned whole.
func shortDigest(s string) string {
	if len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" {
		return s[:12]
	}
	return s
}
