package pace

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the pace probe's own flags stops
// the tick, UNKNOWN, before anything is asked, with its own wording (`bad
// --flag value: want ...`); the first bad flag wins.
func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--prompt-tokens", "10"}, "bad --prompt-tokens 10: want at least 64"},
		{[]string{"--decode-tokens", "1"}, "bad --decode-tokens 1: want at least 2 (the decode speed is measured after the first token)"},
		{[]string{"--baseline-samples", "0"}, "bad --baseline-samples 0: want at least 1"},
		{[]string{"--warmup", "-1"}, "bad --warmup -1: want 0 or more"},
		{[]string{"--ttft-factor", "1"}, "bad --ttft-factor 1: want more than 1"},
		{[]string{"--decode-factor", "1"}, "bad --decode-factor 1: want between 0 and 1"},
		{[]string{"--decode-factor", "0"}, "bad --decode-factor 0: want between 0 and 1"},
		{[]string{"--baseline-ttft", "-1s"}, "bad --baseline-ttft -1s: want a positive duration, or 0 to learn it"},
		{[]string{"--baseline-decode", "-1"}, "bad --baseline-decode -1: want tokens per second, or 0 to learn it"},
		{[]string{"--severity", "info"}, `bad --severity "info": want warn, error or critical`},
		{[]string{"--deadline", "0s"}, "bad --deadline 0s: want a positive duration"},
		{[]string{"--stall-timeout", "0s"}, "bad --stall-timeout 0s: want a positive duration"},
		{[]string{"--max-unjudged", "-1"}, "bad --max-unjudged -1: want 0 (never) or more"},
		{[]string{"--max-unjudged", "-1", "--severity", "x", "--warmup", "-1"}, "bad --warmup -1: want 0 or more"},
		{[]string{"--max-unjudged", "-1", "--severity", "x"}, `bad --severity "x": want warn, error or critical`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := probetest.RunInProcess(t, New(), tc.args...)
			if got := r.SettingsError(); r.Code != probe.ExitUnknown || got != tc.want {
				t.Fatalf("exit %d, error %q; want exit 3, %q", r.Code, got, tc.want)
			}
		})
	}
}
