package plists

import (
	"bytes"
	"strings"
	"testing"
)

// TestSettingsErrors: every bad setting is a usage error (exit 2) in its
// own words, before any plist is written or launchctl is run.
func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--home", "rel"}, `resolve config: home must be an absolute path, got "rel"`},
		{[]string{"--bindir", "rel"}, `path "rel": must be absolute or start with ~/`},
		{[]string{"--log-dir", "rel"}, `path "rel": must be absolute or start with ~/`},
		{[]string{"--label-prefix", "-com.x"}, `--label-prefix: invalid launchd label: "-com.x.council-guardian"`},
		{[]string{"--destdir", "rel"}, `--destdir: path "rel": must be absolute or start with ~/`},
		{[]string{"--fallback-destdir", "rel"}, `--fallback-destdir: path "rel": must be absolute or start with ~/`},
		{[]string{"--fallback-lock", "rel"}, `--fallback-lock: path "rel": must be absolute or start with ~/`},
		{[]string{"extra"}, `install: unexpected arguments ["extra"]`},
		// The first bad setting wins.
		{[]string{"--fallback-lock", "rel", "--destdir", "rel", "--label-prefix", "-x"}, `--label-prefix: invalid launchd label: "-x.council-guardian"`},
		{[]string{"--fallback-lock", "rel", "--destdir", "rel"}, `--destdir: path "rel": must be absolute or start with ~/`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			var out, errb bytes.Buffer
			args := append([]string{"council-plists", "install", "--home", dir, "--dry-run"}, tc.args...)
			if code := Run(args, &out, &errb); code != 2 || errb.String() != "council-plists: "+tc.want+"\n" {
				t.Fatalf("exit %d, stderr %q; want exit 2, %q", code, errb.String(), tc.want)
			}
		})
	}
}
