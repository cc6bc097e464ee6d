package pace

import (
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the pace probe's own flags stops
// the tick, UNKNOWN, before anything is asked, with its own wording (`bad
// --flag value: want ...`); the first bad flag wins.
func TestSettingsErrors(t *testing.T) {
	probetest.RefusesSettings(t, New, []probetest.Refusal{
		{Args: []string{"--prompt-tokens", "10"}, Want: "bad --prompt-tokens 10: want at least 64"},
		{Args: []string{"--decode-tokens", "1"}, Want: "bad --decode-tokens 1: want at least 2 (the decode speed is measured after the first token)"},
		{Args: []string{"--baseline-samples", "0"}, Want: "bad --baseline-samples 0: want at least 1"},
		{Args: []string{"--warmup", "-1"}, Want: "bad --warmup -1: want 0 or more"},
		{Args: []string{"--ttft-factor", "1"}, Want: "bad --ttft-factor 1: want more than 1"},
		{Args: []string{"--decode-factor", "1"}, Want: "bad --decode-factor 1: want between 0 and 1"},
		{Args: []string{"--decode-factor", "0"}, Want: "bad --decode-factor 0: want between 0 and 1"},
		{Args: []string{"--baseline-ttft", "-1s"}, Want: "bad --baseline-ttft -1s: want a positive duration, or 0 to learn it"},
		{Args: []string{"--baseline-decode", "-1"}, Want: "bad --baseline-decode -1: want tokens per second, or 0 to learn it"},
		{Args: []string{"--severity", "info"}, Want: `bad --severity "info": want warn, error or critical`},
		{Args: []string{"--deadline", "0s"}, Want: "bad --deadline 0s: want a positive duration"},
		{Args: []string{"--stall-timeout", "0s"}, Want: "bad --stall-timeout 0s: want a positive duration"},
		{Args: []string{"--max-unjudged", "-1"}, Want: "bad --max-unjudged -1: want 0 (never) or more"},
		{Args: []string{"--max-unjudged", "-1", "--severity", "x", "--warmup", "-1"}, Want: "bad --warmup -1: want 0 or more"},
		{Args: []string{"--max-unjudged", "-1", "--severity", "x"}, Want: `bad --severity "x": want warn, error or critical`},
	})
}
