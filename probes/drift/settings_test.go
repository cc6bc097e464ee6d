package drift

import (
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of drift's own flags is UNKNOWN on
// the config channel, before anything is checked, with its own wording
// (`bad --flag value: want ...`); the first bad flag wins.
func TestSettingsErrors(t *testing.T) {
	probetest.RefusesSettings(t, New, []probetest.Refusal{
		{Args: []string{"--timeout", "0s"}, Want: "bad --timeout 0s: want a positive duration"},
		{Args: []string{"--watch-probe", "canary"}, Want: `bad --watch-probe "canary": want name=interval, e.g. canary=10m`},
		{Args: []string{"--watch-probe", "=10m"}, Want: `bad --watch-probe "=10m": want name=interval, e.g. canary=10m`},
		{Args: []string{"--watch-probe", "../x=10m"}, Want: `bad --watch-probe "../x=10m": want a probe name, not "../x"`},
		{Args: []string{"--watch-probe", "canary=soon"}, Want: `bad --watch-probe "canary=soon": want a positive duration like 30s or 10m after the =`},
		{Args: []string{"--watch-probe", "canary=10m", "--watch-probe", "canary=5m"}, Want: `bad --watch-probe "canary=5m": want each probe once, canary is listed twice`},
		{Args: []string{"--expect-server", ""}, Want: `bad --expect-server "": want a version or build, or a pattern such as 0.12.*`},
		{Args: []string{"--expect-server", "0.12.["}, Want: `bad --expect-server "0.12.[": syntax error in pattern`},
		{Args: []string{"--expect-model-digest", "2ae6f6"}, Want: `bad --expect-model-digest "2ae6f6": want a sha256 hex digest or a prefix of at least 12 hex digits`},
		{Args: []string{"--expect-model-digest", "2ae6f6", "--expect-server", "", "--timeout", "0s"}, Want: "bad --timeout 0s: want a positive duration"},
		{Args: []string{"--expect-model-digest", "2ae6f6", "--expect-server", ""}, Want: `bad --expect-server "": want a version or build, or a pattern such as 0.12.*`},
	})
}
