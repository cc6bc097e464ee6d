package paritysmoke

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the probe's own flags is UNKNOWN
// on the config channel, before any prompt is sent, with its own wording
// (`bad --flag value: want ...`); the first bad flag wins.
func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--prompt-timeout", "0s"}, "bad --prompt-timeout 0s: want a positive duration"},
		{[]string{"--max-failures", "-1"}, "bad --max-failures -1: want 0 or more"},
		{[]string{"--min-prefix", "-1"}, "bad --min-prefix -1: want 0 or more"},
		{[]string{"--table", "sometimes"}, `bad --table "sometimes": want auto, always or never`},
		{[]string{"--record", "golden.json", "--reference-url", "http://127.0.0.1:1"}, "bad --record with --reference-url: --record records the primary (--url); drop --reference-url"},
		{[]string{"--table", "x", "--min-prefix", "-1", "--prompt-timeout", "0s"}, "bad --prompt-timeout 0s: want a positive duration"},
		{[]string{"--table", "x", "--min-prefix", "-1"}, "bad --min-prefix -1: want 0 or more"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := probetest.RunInProcess(t, New(), tc.args...)
			if got := r.SettingsError(); r.Code != probe.ExitUnknown || got != tc.want {
				t.Fatalf("exit %d, error %q; want exit 3, %q", r.Code, got, tc.want)
			}
		})
	}
}
