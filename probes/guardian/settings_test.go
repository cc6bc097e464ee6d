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
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "0s"}, "bad --timeout 0s: want a positive duration"},
		{[]string{"--restart-after", "0"}, "bad --restart-after 0: want at least 1"},
		{[]string{"--max-restarts", "-1"}, "bad --max-restarts -1: want 0 or more"},
		{[]string{"--restart-window", "0s"}, "bad --restart-window 0s: want a positive duration"},
		{[]string{"--verify-timeout", "-1s"}, "bad --verify-timeout -1s: want a positive duration"},
		{[]string{"--verify-interval", "0s"}, "bad --verify-interval 0s: want a positive duration"},
		{[]string{"--startup-grace", "-1s"}, "bad --startup-grace -1s: want a positive duration, or 0 to turn it off"},
		{[]string{"--log-tail-bytes", "0"}, "bad --log-tail-bytes 0: want at least 1"},
		{[]string{"--gpu", "sometimes"}, `bad --gpu "sometimes": want auto, required or off`},
		{[]string{"--wedged-after", "-1"}, "bad --wedged-after -1: want 0 or more"},
		{[]string{"--cpu-window", "0s"}, "bad --cpu-window 0s: want a positive duration"},
		{[]string{"--idle-cpu", "0"}, "bad --idle-cpu 0: want a fraction of one core, more than 0 and at most 1"},
		{[]string{"--idle-cpu", "1.5"}, "bad --idle-cpu 1.5: want a fraction of one core, more than 0 and at most 1"},
		{[]string{"--max-busy", "-1m"}, "bad --max-busy -1m0s: want 0 or a positive duration"},
		{[]string{"--canary-interval", "0s"}, "bad --canary-interval 0s: want a positive duration"},
		{[]string{"--crash-loop", "-1"}, "bad --crash-loop -1: want 0 or more"},
		{[]string{"--crash-window", "0s"}, "bad --crash-window 0s: want a positive duration"},
		{[]string{"--primary-binary", ""}, "--primary-binary is empty: set the primary server's binary path"},
		// The first bad flag wins, in the order the flags are checked.
		{[]string{"--crash-loop", "-1", "--cpu-window", "0s", "--gpu", "x", "--timeout", "0s"}, "bad --timeout 0s: want a positive duration"},
		{[]string{"--crash-loop", "-1", "--cpu-window", "0s", "--gpu", "x"}, `bad --gpu "x": want auto, required or off`},
		{[]string{"--crash-loop", "-1", "--cpu-window", "0s"}, "bad --cpu-window 0s: want a positive duration"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := probetest.RunInProcess(t, New(), tc.args...)
			if got := r.SettingsError(); r.Code != probe.ExitUnknown || got != tc.want {
				t.Fatalf("exit %d, error %q; want exit 3, %q", r.Code, got, tc.want)
			}
		})
	}
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
