package canary

import (
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the canary's own flags stops the
// tick, UNKNOWN, before anything is asked, with its own wording (`bad
// --flag value: want ...`); the first bad flag in the flags' order wins.
func TestSettingsErrors(t *testing.T) {
	probetest.RefusesSettings(t, New, []probetest.Refusal{
		{Args: []string{"--expect", "("}, Want: "bad --expect \"(\": want a regexp (RE2): error parsing regexp: missing closing ): `(`"},
		{Args: []string{"--prompt", "  "}, Want: `bad --prompt "  ": want a question`},
		{Args: []string{"--max-tokens", "0"}, Want: "bad --max-tokens 0: want at least 1"},
		{Args: []string{"--max-answer-words", "-1"}, Want: "bad --max-answer-words -1: want 0 or more"},
		{Args: []string{"--deadline", "0s"}, Want: "bad --deadline 0s: want a positive duration"},
		{Args: []string{"--ttfb-timeout", "-1s"}, Want: "bad --ttfb-timeout -1s: want a positive duration"},
		{Args: []string{"--stall-timeout", "0s"}, Want: "bad --stall-timeout 0s: want a positive duration"},
		{Args: []string{"--load-allowance", "-1s"}, Want: "bad --load-allowance -1s: want 0 or a positive duration"},
		{Args: []string{"--load-allowance", "-1s", "--max-tokens", "0", "--expect", "("}, Want: "bad --expect \"(\": want a regexp (RE2): error parsing regexp: missing closing ): `(`"},
		{Args: []string{"--load-allowance", "-1s", "--max-tokens", "0"}, Want: "bad --max-tokens 0: want at least 1"},
	})
}
