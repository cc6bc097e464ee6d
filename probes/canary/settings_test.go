package canary

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the canary's own flags stops the
// tick, UNKNOWN, before anything is asked, with its own wording (`bad
// --flag value: want ...`); the first bad flag in the flags' order wins.
func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--expect", "("}, "bad --expect \"(\": want a regexp (RE2): error parsing regexp: missing closing ): `(`"},
		{[]string{"--prompt", "  "}, `bad --prompt "  ": want a question`},
		{[]string{"--max-tokens", "0"}, "bad --max-tokens 0: want at least 1"},
		{[]string{"--max-answer-words", "-1"}, "bad --max-answer-words -1: want 0 or more"},
		{[]string{"--deadline", "0s"}, "bad --deadline 0s: want a positive duration"},
		{[]string{"--ttfb-timeout", "-1s"}, "bad --ttfb-timeout -1s: want a positive duration"},
		{[]string{"--stall-timeout", "0s"}, "bad --stall-timeout 0s: want a positive duration"},
		{[]string{"--load-allowance", "-1s"}, "bad --load-allowance -1s: want 0 or a positive duration"},
		{[]string{"--load-allowance", "-1s", "--max-tokens", "0", "--expect", "("}, "bad --expect \"(\": want a regexp (RE2): error parsing regexp: missing closing ): `(`"},
		{[]string{"--load-allowance", "-1s", "--max-tokens", "0"}, "bad --max-tokens 0: want at least 1"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := probetest.RunInProcess(t, New(), tc.args...)
			if got := r.SettingsError(); r.Code != probe.ExitUnknown || got != tc.want {
				t.Fatalf("exit %d, error %q; want exit 3, %q", r.Code, got, tc.want)
			}
		})
	}
}
