package units

import (
	"bytes"
	"strings"
	"testing"
)

// TestSettingsErrors: every bad setting is a usage error (exit 2) in its
// own words, before any unit is written or systemctl is run.
func TestSettingsErrors(t *testing.T) {
	bad := `--user: invalid name: "bad user" is not a login name (a-z, 0-9, "_", "-", starting with a letter or "_", at most 32 bytes)`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "--home", "rel"}, `resolve config: home must be an absolute path, got "rel"`},
		{[]string{"install", "--bindir", "rel"}, `path "rel": must be absolute or start with ~/`},
		{[]string{"install", "--log-dir", "rel"}, `path "rel": must be absolute or start with ~/`},
		{[]string{"install", "--destdir", "rel"}, `--destdir: path "rel": must be absolute or start with ~/`},
		{[]string{"render", "extra"}, `render: unexpected arguments ["extra"]`},
		{[]string{"install", "--destdir", "rel", "--bindir", "rel"}, `path "rel": must be absolute or start with ~/`},
		{[]string{"polkit"}, "polkit: --primary is required"},
		{[]string{"polkit", "--primary", "ollama"}, "polkit: --fallback is required"},
		{[]string{"polkit", "--primary", "ollama", "--fallback", "fb"}, "polkit: --user is required"},
		{[]string{"polkit", "--primary", "bad unit", "--fallback", "fb", "--user", "neo"},
			`--primary: invalid name: "bad unit.service" is not a service unit name (letters, digits, ":_.-", one "@", ending in .service)`},
		{[]string{"polkit", "--primary", "ollama", "--fallback", "fb", "--user", "bad user"}, bad},
		{[]string{"polkit", "x"}, `polkit: unexpected arguments ["x"]`},
		{[]string{"doctor", "x"}, `doctor: unexpected arguments ["x"]`},
		{[]string{"doctor", "--user", "bad user"}, bad},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			args := []string{"council-units", tc.args[0]}
			if tc.args[0] == "install" || tc.args[0] == "render" {
				args = append(args, "--dry-run", "--home", t.TempDir())
			}
			args = append(args, tc.args[1:]...)
			if code := Run(args, &out, &errb); code != 2 || errb.String() != "council-units: "+tc.want+"\n" {
				t.Fatalf("exit %d, stderr %q; want exit 2, %q", code, errb.String(), tc.want)
			}
		})
	}
}
