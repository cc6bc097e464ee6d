package ctxwindow

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the context probe's own flags is
// UNKNOWN on the config channel, before anything is asked, with its own
// wording (`bad --flag value: want ...`); the first bad flag wins.
func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--expect-context", "-1"}, "bad --expect-context -1: want tokens, or 0 to take the server's word"},
		{[]string{"--context-fill", "0"}, "bad --context-fill 0: want more than 0 and at most 1"},
		{[]string{"--context-fill", "1.01"}, "bad --context-fill 1.01: want more than 0 and at most 1"},
		{[]string{"--max-prompt-words", "63"}, "bad --max-prompt-words 63: want at least 64"},
		{[]string{"--answer-tokens", "0"}, "bad --answer-tokens 0: want at least 1"},
		{[]string{"--deadline", "0s"}, "bad --deadline 0s: want a positive duration"},
		{[]string{"--log-read-bytes", "4095"}, "bad --log-read-bytes 4095: want at least 4096"},
		{[]string{"--log-read-bytes", "1", "--answer-tokens", "0", "--context-fill", "2"}, "bad --context-fill 2: want more than 0 and at most 1"},
		{[]string{"--log-read-bytes", "1", "--answer-tokens", "0"}, "bad --answer-tokens 0: want at least 1"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := probetest.RunInProcess(t, New(), tc.args...)
			if got := r.SettingsError(); r.Code != probe.ExitUnknown || got != tc.want {
				t.Fatalf("exit %d, error %q; want exit 3, %q", r.Code, got, tc.want)
			}
		})
	}
}
