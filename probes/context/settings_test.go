package ctxwindow

import (
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the context probe's own flags is
// UNKNOWN on the config channel, before anything is asked, with its own
// wording (`bad --flag value: want ...`); the first bad flag wins.
func TestSettingsErrors(t *testing.T) {
	probetest.RefusesSettings(t, New, []probetest.Refusal{
		{Args: []string{"--expect-context", "-1"}, Want: "bad --expect-context -1: want tokens, or 0 to take the server's word"},
		{Args: []string{"--context-fill", "0"}, Want: "bad --context-fill 0: want more than 0 and at most 1"},
		{Args: []string{"--context-fill", "1.01"}, Want: "bad --context-fill 1.01: want more than 0 and at most 1"},
		{Args: []string{"--max-prompt-words", "63"}, Want: "bad --max-prompt-words 63: want at least 64"},
		{Args: []string{"--answer-tokens", "0"}, Want: "bad --answer-tokens 0: want at least 1"},
		{Args: []string{"--deadline", "0s"}, Want: "bad --deadline 0s: want a positive duration"},
		{Args: []string{"--log-read-bytes", "4095"}, Want: "bad --log-read-bytes 4095: want at least 4096"},
		{Args: []string{"--log-read-bytes", "1", "--answer-tokens", "0", "--context-fill", "2"}, Want: "bad --context-fill 2: want more than 0 and at most 1"},
		{Args: []string{"--log-read-bytes", "1", "--answer-tokens", "0"}, Want: "bad --answer-tokens 0: want at least 1"},
	})
}
