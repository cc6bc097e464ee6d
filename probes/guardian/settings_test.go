package guardian

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestSettingsErrors: every bad value of the guardian's own flags stops
// the tick, UNKNOWN, with its own wording (`bad --flag value: want ...`),
// the first bad flag in the flags' order winning; restore-primary refuses
// the same values with the same words.
func TestSettingsErrors(t *testing.T) {
	probetest.RefusesSettings(t, New, []probetest.Refusal{
		{Args: []string{"--timeout", "0s"}, Want: "bad --timeout 0s: want a positive duration"},
		{Args: []string{"--restart-after", "0"}, Want: "bad --restart-after 0: want at least 1"},
		{Args: []string{"--max-restarts", "-1"}, Want: "bad --max-restarts -1: want 0 or more"},
		{Args: []string{"--restart-window", "0s"}, Want: "bad --restart-window 0s: want a positive duration"},
		{Args: []string{"--verify-timeout", "-1s"}, Want: "bad --verify-timeout -1s: want a positive duration"},
		{Args: []string{"--verify-interval", "0s"}, Want: "bad --verify-interval 0s: want a positive duration"},
		{Args: []string{"--startup-grace", "-1s"}, Want: "bad --startup-grace -1s: want a positive duration, or 0 to turn it off"},
		{Args: []string{"--log-tail-bytes", "0"}, Want: "bad --log-tail-bytes 0: want at least 1"},
		{Args: []string{"--gpu", "sometimes"}, Want: `bad --gpu "sometimes": want auto, required or off`},
		{Args: []string{"--wedged-after", "-1"}, Want: "bad --wedged-after -1: want 0 or more"},
		{Args: []string{"--cpu-window", "0s"}, Want: "bad --cpu-window 0s: want a positive duration"},
		{Args: []string{"--idle-cpu", "0"}, Want: "bad --idle-cpu 0: want a fraction of one core, more than 0 and at most 1"},
		{Args: []string{"--idle-cpu", "1.5"}, Want: "bad --idle-cpu 1.5: want a fraction of one core, more than 0 and at most 1"},
		{Args: []string{"--max-busy", "-1m"}, Want: "bad --max-busy -1m0s: want 0 or a positive duration"},
		{Args: []string{"--canary-interval", "0s"}, Want: "bad --canary-interval 0s: want a positive duration"},
		{Args: []string{"--crash-loop", "-1"}, Want: "bad --crash-loop -1: want 0 or more"},
		{Args: []string{"--crash-window", "0s"}, Want: "bad --crash-window 0s: want a positive duration"},
		{Args: []string{"--primary-binary", ""}, Want: "--primary-binary is empty: set the primary server's binary path"},
		// The first bad flag wins, in the order the flags are checked.
		{Args: []string{"--crash-loop", "-1", "--cpu-window", "0s", "--gpu", "x", "--timeout", "0s"}, Want: "bad --timeout 0s: want a positive duration"},
		{Args: []string{"--crash-loop", "-1", "--cpu-window", "0s", "--gpu", "x"}, Want: `bad --gpu "x": want auto, required or off`},
		{Args: []string{"--crash-loop", "-1", "--cpu-window", "0s"}, Want: "bad --cpu-window 0s: want a positive duration"},
	})
}

// TestRestoreSettingsErrors: restore-primary refuses a bad guardian
// setting before it changes anything, in the tick's words.
func TestRestoreSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "0s"}, "bad --timeout 0s: want a positive duration"},
		{[]string{"--verify-interval", "-1s"}, "bad --verify-interval -1s: want a positive duration"},
		{[]string{"--gpu", "x"}, `bad --gpu "x": want auto, required or off`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := probetest.RunInProcess(t, New(), append(tc.args, "restore-primary")...)
			if want := "council-guardian: " + tc.want + "\n"; r.Code != probe.ExitUnknown || r.Stderr != want {
				t.Fatalf("exit %d, stderr %q; want exit 3, %q", r.Code, r.Stderr, want)
			}
		})
	}
}
