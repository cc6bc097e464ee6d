package paritysmoke

import (
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the probe's own flags is UNKNOWN
// on the config channel, before any prompt is sent, with its own wording
// (`bad --flag value: want ...`); the first bad flag wins.
func TestSettingsErrors(t *testing.T) {
	probetest.RefusesSettings(t, New, []probetest.Refusal{
		{Args: []string{"--prompt-timeout", "0s"}, Want: "bad --prompt-timeout 0s: want a positive duration"},
		{Args: []string{"--max-failures", "-1"}, Want: "bad --max-failures -1: want 0 or more"},
		{Args: []string{"--min-prefix", "-1"}, Want: "bad --min-prefix -1: want 0 or more"},
		{Args: []string{"--table", "sometimes"}, Want: `bad --table "sometimes": want auto, always or never`},
		{Args: []string{"--record", "golden.json", "--reference-url", "http://127.0.0.1:1"}, Want: "bad --record with --reference-url: --record records the primary (--url); drop --reference-url"},
		{Args: []string{"--table", "x", "--min-prefix", "-1", "--prompt-timeout", "0s"}, Want: "bad --prompt-timeout 0s: want a positive duration"},
		{Args: []string{"--table", "x", "--min-prefix", "-1"}, Want: "bad --min-prefix -1: want 0 or more"},
	})
}
