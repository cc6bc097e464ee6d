package drift

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
)

// An upgrade re-checks at once. The nightly probes (parity-smoke, context:
// the registry's OnServerChange) judge what a new server version or model
// could break, the answers and the window; left to their schedule, a
// server upgraded at noon would go unchecked until 03:00. So when drift
// sees the server change, it starts them now (the service manager's
// Start: launchctl kickstart of their agents, without -k, or systemctl
// start of their council-<name>.service; a run in progress is left to
// finish) and logs each start as a remediation. Each change starts each probe at most
// once: the change and what was started for it are kept in drift's state;
// a start that failed (an agent not loaded, the manager refusing) is tried
// again on the next ticks, for at most recheckTries ticks, and a new change
// replaces the old.

// recheckKey is where the last change's re-check lives in drift's state.
const recheckKey = "server_recheck"

// recheckTries bounds the ticks a start that keeps failing is retried (a
// day of hourly ticks): the probe's own schedule takes over after that.
const recheckTries = 24

// recheckTimeout bounds one start.
const recheckTimeout = 15 * time.Second

// recheck is the re-check of one server change.
type recheck struct {
	// Change identifies the change (a digest of what changed to what).
	Change string    `json:"change"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Started are the probes started for it; Pending those still to
	// start; Tries the ticks that tried.
	Started []string `json:"started,omitempty"`
	Pending []string `json:"pending,omitempty"`
	Tries   int      `json:"tries,omitempty"`
}

// changeKey identifies a change by what changed to what: the same
// identity reached again after a flip back is a new change (its key
// differs from the last one kept), the same change seen twice is not.
func changeKey(changes []identityChange) string {
	h := sha256.New()
	for _, c := range changes {
		fmt.Fprintf(h, "%s\x00%s\x00%s\n", c.Field, c.From, c.To)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// recheckAfterChange starts the OnServerChange probes for a change seen
// this tick, and retries the starts an earlier change left pending.
func recheckAfterChange(ctx context.Context, t *probe.Tick, cfg settings, mgr service.Manager, changes []identityChange) {
	var rc recheck
	if _, err := t.State.Get(recheckKey, &rc); err != nil {
		t.Log.Warn("state_reset", "check", recheckKey, "error", err.Error())
		rc = recheck{}
	}
	if !cfg.Recheck {
		if len(changes) > 0 {
			t.Log.Info("recheck_off", "reason", "--recheck-on-change=false", "change", describe(changes))
		}
		return
	}
	// The same change seen again (a flip back and forth ends on the last
	// one kept) was started once already; only what it left pending is
	// tried again.
	if key := changeKey(changes); len(changes) > 0 && key != rc.Change {
		rc = recheck{Change: key, Reason: describe(changes), At: t.Now().UTC(), Pending: suite.Names(suite.OnServerChange(suite.Probes))}
	}
	if len(rc.Pending) == 0 {
		return
	}
	rc.Tries++
	var still []string
	for _, name := range rc.Pending {
		p, ok := suite.Lookup(name)
		if !ok {
			continue // no longer a probe
		}
		label, action := p.Label(t.Common.LabelPrefix), "kickstart"
		if mgr.Kind() == service.Systemd {
			label, action = p.ServiceUnit(), "start"
		}
		// In a dry run the manager prints the start instead.
		kctx, cancel := context.WithTimeout(ctx, recheckTimeout)
		err := mgr.Start(kctx, label)
		cancel()
		attrs := []any{"action", action, "probe", name, "label", label, "service", mgr.Target(label),
			"reason", "server_changed: " + rc.Reason, "attempt", rc.Tries}
		switch {
		case t.DryRun():
			t.Log.Info("remediation_dry_run", attrs...)
			still = append(still, name)
		case err != nil:
			t.Log.Warn("remediation_failed", append(attrs, "error", err.Error())...)
			still = append(still, name)
		default:
			t.Log.Info("remediation", append(attrs, "detail", fmt.Sprintf("started %s now: the server changed (%s)", p.Binary(), rc.Reason))...)
			rc.Started = append(rc.Started, name)
		}
	}
	if t.DryRun() {
		return // nothing started: nothing to remember
	}
	rc.Pending = still
	if len(still) > 0 && rc.Tries >= recheckTries {
		t.Log.Warn("remediation_abandoned", "probes", strings.Join(still, ","), "tries", rc.Tries,
			"reason", "their agents could not be started; they run on their own schedule")
		rc.Pending = nil
	}
	slices.Sort(rc.Started)
	if err := t.State.Put(recheckKey, rc); err != nil {
		t.Log.Warn("recheck_unsaved", "error", err.Error())
	}
}

// describe is the changes as the server_changed notice says them.
func describe(changes []identityChange) string {
	parts := make([]string, len(changes))
	for i, c := range changes {
		parts[i] = c.String()
	}
	return strings.Join(parts, "; ")
}
