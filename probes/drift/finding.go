package drift

import (
	"strings"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/host/tilde"
	"github.com/sanctum/council-probes/pkg/probe"
)

// The checks. The per-subject ones (drifted, deployed_missing,
// canonical_missing, agent_not_loaded, probe_stale) report on the channel
// "<check>:<subject>", so every file, agent and probe has its own hysteresis,
// cooldown and recovery: a chronic condition on one can never silence
// another.
const (
	CheckDrifted          = "drifted"
	CheckDeployedMissing  = "deployed_missing"
	CheckCanonicalMissing = "canonical_missing"
	CheckRepoDirty        = "repo_dirty"
	CheckAgentNotLoaded   = "agent_not_loaded"
	CheckFallbackRace     = "fallback_race"
	CheckProbeStale       = "probe_stale"
	// CheckMap and CheckRepo are configuration checks: an unreadable map
	// or repository makes the file checks UNKNOWN.
	CheckMap  = "map"
	CheckRepo = "repo"
	// CheckConfig is a bad setting: the tick checks nothing.
	CheckConfig = probe.CheckConfig
)

// channel is the channel name of a per-subject check.
func channel(check, subject string) string { return check + ":" + subject }

// fileSubject names a deployed file in its channel (drifted:<subject>,
// deployed_missing:<subject>): the path as the drift map's author writes
// it, "~/Library/LaunchAgents/com.sanctum.mlx.plist" under $HOME and the
// absolute path elsewhere. It is short enough to read on a status screen
// and stable across machines whose homes differ; the full path is in the
// event's fields and the alert's message.
func fileSubject(deployed, home string) string { return tilde.Path(deployed, home) }

// outcome is what a finding reports.
type outcome int

const (
	outcomePass outcome = iota
	outcomeFail
	outcomeUnknown
	// outcomeNotJudged: the check needed the service manager, which could
	// not be asked; its channel is left as it was (and not closed as
	// unchecked), and the service_manager channel says why.
	outcomeNotJudged
)

// finding is one check's result for one subject, ready to report on its
// channel. Check functions return findings; runTick reports them. Keeping the
// two apart lets the checks be tested without a Tick.
type finding struct {
	Channel  string
	Event    string
	Outcome  outcome
	Severity alert.Severity // for outcomeFail
	Summary  string
	Attrs    []any
}

func pass(channel, event string, attrs ...any) finding {
	return finding{Channel: channel, Event: event, Outcome: outcomePass, Attrs: attrs}
}

func fail(channel, event string, sev alert.Severity, summary string, attrs ...any) finding {
	return finding{Channel: channel, Event: event, Outcome: outcomeFail, Severity: sev, Summary: summary, Attrs: attrs}
}

func unknown(channel, event, summary string, attrs ...any) finding {
	return finding{Channel: channel, Event: event, Outcome: outcomeUnknown, Summary: summary, Attrs: attrs}
}

// notJudged is a check that needed the service manager, which could not
// be asked.
func notJudged(channel string, attrs ...any) finding {
	return finding{Channel: channel, Event: "not_judged", Outcome: outcomeNotJudged, Attrs: attrs}
}

// report sends f to its channel.
func (f finding) report(t *probe.Tick) {
	switch f.Outcome {
	case outcomePass:
		t.Pass(f.Channel, f.Event, f.Attrs...)
	case outcomeFail:
		t.Fail(f.Channel, f.Event, f.Severity, f.Summary, f.Attrs...)
	case outcomeNotJudged:
		t.Log.Info(f.Event, append([]any{"check", f.Channel, "reason", "the service manager cannot be asked (service_manager)"}, f.Attrs...)...)
	default:
		t.Unknown(f.Channel, f.Event, f.Summary, f.Attrs...)
	}
}

// reconcile closes the channels of the given per-subject checks that this
// tick did not report: a file dropped from the map, an agent no longer
// expected, a drifted file that is now missing instead. An open channel is
// cleared (one "recovered" alert if it had alerted) and every unreported one
// is forgotten, so the state file holds only the current subjects.
func reconcile(t *probe.Tick, reported map[string]bool, checks ...string) {
	for _, name := range t.ChannelNames() {
		if reported[name] || !hasCheckPrefix(name, checks) {
			continue
		}
		if c := t.Channel(name); c != nil && c.Open() {
			t.Log.Info("channel_closed", "check", name, "reason", "no longer checked (configuration changed) or replaced by another check of the same subject")
			t.Clear(name)
		}
		t.Forget(name)
	}
}

func hasCheckPrefix(channel string, checks []string) bool {
	for _, c := range checks {
		if strings.HasPrefix(channel, c+":") {
			return true
		}
	}
	return false
}

// renameOldFileChannels renames the channels that earlier versions named
// after the absolute deployed path ("drifted:/Users/x/Library/a.plist") to
// their FileSubject name ("drifted:~/Library/a.plist"), keeping their
// state: an open drift stays open under its new name with its count, its
// start and its cooldown, so the rename neither alerts again nor announces
// a recovery that did not happen. When the new name is already taken the
// old channel is dropped (the new one is current). It returns the renames
// made, old name to new. A name it does not recognise (a file that was under
// another $HOME) is closed by reconcile, like any subject no longer checked.
func renameOldFileChannels(chs map[string]*alert.Channel, home string) map[string]string {
	renamed := map[string]string{}
	for name, c := range chs {
		check, subject, ok := strings.Cut(name, ":")
		if !ok || (check != CheckDrifted && check != CheckDeployedMissing) {
			continue
		}
		short := channel(check, fileSubject(subject, home))
		if short == name {
			continue
		}
		if _, taken := chs[short]; !taken {
			chs[short] = c
		}
		delete(chs, name)
		renamed[name] = short
	}
	return renamed
}
