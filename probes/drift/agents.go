package drift

import (
	"context"
	"fmt"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
)

// defaultExpectedAgents is the default --expect-agent list: the primary
// server and every probe of the suite (<label-prefix>.council-<name>).
func defaultExpectedAgents(probes []suite.Probe, primaryLabel, labelPrefix string) []string {
	labels := []string{primaryLabel}
	for _, p := range probes {
		labels = append(labels, p.Label(labelPrefix))
	}
	return labels
}

// checkAgents asks launchd about each expected label; each label that is not
// loaded is its own agent_not_loaded channel. onFallback adds context to a
// missing primary: PromoteFallback boots the primary out on purpose.
func checkAgents(ctx context.Context, lc *launchctl.Runner, labels []string, primary string, onFallback bool) []finding {
	var out []finding
	seen := map[string]bool{}
	for _, label := range labels {
		if seen[label] {
			continue
		}
		seen[label] = true
		ch := channel(CheckAgentNotLoaded, label)
		info, err := lc.Print(ctx, label)
		switch {
		case err == nil:
			out = append(out, pass(ch, "agent_loaded", "label", label, "state", info.State, "pid", info.PID))
		case launchctl.IsNotLoaded(err):
			summary := fmt.Sprintf("%s is not loaded in launchd (%s)", label, lc.Domain())
			if label == primary && onFallback {
				summary += "; the fallback lock exists, so the fallback serves until an operator restores the primary"
			}
			out = append(out, fail(ch, CheckAgentNotLoaded, alert.Error, summary, "label", label, "domain", lc.Domain()))
		default:
			out = append(out, unknown(ch, "launchctl_error",
				fmt.Sprintf("cannot tell whether %s is loaded: %v", label, err), "label", label))
		}
	}
	return out
}
