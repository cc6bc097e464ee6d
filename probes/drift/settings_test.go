package drift

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of drift's own flags is UNKNOWN on
// the config channel, before anything is checked, with its own wording
// (`bad --flag value: want ...`); the first bad flag wins.
func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "0s"}, "bad --timeout 0s: want a positive duration"},
		{[]string{"--watch-probe", "canary"}, `bad --watch-probe "canary": want name=interval, e.g. canary=10m`},
		{[]string{"--watch-probe", "=10m"}, `bad --watch-probe "=10m": want name=interval, e.g. canary=10m`},
		{[]string{"--watch-probe", "../x=10m"}, `bad --watch-probe "../x=10m": want a probe name, not "../x"`},
		{[]string{"--watch-probe", "canary=soon"}, `bad --watch-probe "canary=soon": want a positive duration like 30s or 10m after the =`},
		{[]string{"--watch-probe", "canary=10m", "--watch-probe", "canary=5m"}, `bad --watch-probe "canary=5m": want each probe once, canary is listed twice`},
		{[]string{"--expect-server", ""}, `bad --expect-server "": want a version or build, or a pattern such as 0.12.*`},
		{[]string{"--expect-server", "0.12.["}, `bad --expect-server "0.12.[": syntax error in pattern`},
		{[]string{"--expect-model-digest", "2ae6f6"}, `bad --expect-model-digest "2ae6f6": want a sha256 hex digest or a prefix of at least 12 hex digits`},
		{[]string{"--expect-model-digest", "2ae6f6", "--expect-server", "", "--timeout", "0s"}, "bad --timeout 0s: want a positive duration"},
		{[]string{"--expect-model-digest", "2ae6f6", "--expect-server", ""}, `bad --expect-server "": want a version or build, or a pattern such as 0.12.*`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := probetest.RunInProcess(t, New(), tc.args...)
			if got := r.SettingsError(); r.Code != probe.ExitUnknown || got != tc.want {
				t.Fatalf("exit %d, error %q; want exit 3, %q", r.Code, got, tc.want)
			}
		})
	}
}
