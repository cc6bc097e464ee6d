package status

import (
	"bytes"
	"strings"
	"testing"
)

// TestSettingsErrors: a bad setting is UNKNOWN (exit 3) in its own words,
// before any state file is read.
func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--color", "x"}, `--color "x": want auto, always or never`},
		{[]string{"--watch", "-1s"}, "--watch -1s: want a positive duration"},
		{[]string{"--watch", "-1s", "--color", "x"}, `--color "x": want auto, always or never`},
		{[]string{"extra"}, `unexpected argument "extra" (run council-status --help for usage)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			cmd := New()
			cmd.Stdout, cmd.Stderr = &out, &errb
			args := append([]string{"council-status", "--state-dir", t.TempDir()}, tc.args...)
			if code := cmd.Run(args); code != ExitUnknown || errb.String() != "council-status: "+tc.want+"\n" {
				t.Fatalf("exit %d, stderr %q; want exit 3, %q", code, errb.String(), tc.want)
			}
		})
	}
}
