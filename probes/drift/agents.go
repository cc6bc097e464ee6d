package drift

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/service"
)

// defaultExpectedAgents is the default --expect-agent list: the primary
// server and every probe of the suite, as the service manager names them:
// launchd agents <label-prefix>.council-<name>, or under systemd the
// probes' timers council-<name>.timer (a probe's service runs only while
// it ticks; its timer is what must be active).
func defaultExpectedAgents(probes []suite.Probe, primaryLabel, labelPrefix string, kind service.Kind) []string {
	labels := []string{primaryLabel}
	for _, p := range probes {
		if kind == service.Systemd {
			labels = append(labels, p.TimerUnit())
		} else {
			labels = append(labels, p.Label(labelPrefix))
		}
	}
	return labels
}

// checkAgents asks the service manager about each expected job; each that
// is not loaded (or, under systemd, loaded but not active) is its own
// agent_not_loaded channel. onFallback adds context to a missing primary:
// the promotion stops it on purpose. A manager that cannot be asked judges
// none of them: reported once on service_manager by the caller (asked is
// false).
func checkAgents(ctx context.Context, mgr service.Manager, labels []string, primary string, onFallback bool) (out []finding, asked error) {
	seen := map[string]bool{}
	var todo []string
	for _, label := range labels {
		if !seen[label] {
			seen[label] = true
			todo = append(todo, label)
		}
	}
	for i, label := range todo {
		ch := channel(CheckAgentNotLoaded, label)
		st, err := mgr.Status(ctx, label)
		switch {
		case err != nil && errors.Is(err, service.ErrUnavailable):
			for _, rest := range todo[i:] {
				out = append(out, notJudged(channel(CheckAgentNotLoaded, rest), "label", rest))
			}
			return out, err
		case err == nil && st.Active:
			out = append(out, pass(ch, "agent_loaded", "label", label, "state", st.State, "pid", st.PID, "service_manager", string(mgr.Kind())))
		case err == nil:
			summary := fmt.Sprintf("%s is loaded but not active (%s)", mgr.Target(label), st.State)
			out = append(out, fail(ch, CheckAgentNotLoaded, alert.Error, summary, "label", label, "state", st.State, "service_manager", string(mgr.Kind())))
		case errors.Is(err, service.ErrNotLoaded):
			summary := fmt.Sprintf("%s is not loaded in %s", label, where(mgr, label))
			if label == primary && onFallback {
				summary += "; the fallback lock exists, so the fallback serves until an operator restores the primary"
			}
			out = append(out, fail(ch, CheckAgentNotLoaded, alert.Error, summary, "label", label, "service_manager", string(mgr.Kind())))
		default:
			out = append(out, unknown(ch, "service_manager_error",
				fmt.Sprintf("cannot tell whether %s is loaded: %v", label, err), "label", label))
		}
	}
	return out, nil
}

// where names the manager's domain of a job: "launchd (gui/501)", "systemd".
func where(mgr service.Manager, label string) string {
	target := mgr.Target(label)
	if i := strings.LastIndexByte(target, '/'); i > 0 {
		return fmt.Sprintf("%s (%s)", mgr.Kind(), target[:i])
	}
	return string(mgr.Kind())
}
