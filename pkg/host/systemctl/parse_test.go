package systemctl

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/service"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The fixtures are a real systemd 252's answers (testdata/capture.sh):
// each state the probes must tell apart, read the way they read it.
func TestParseShowRealOutput(t *testing.T) {
	tests := []struct {
		file                        string
		loaded, running, waiting    bool
		failed, limit, enabled      bool
		pid, restarts               int
		state, cause                string
		abnormal, exitKnown, hasMon bool
	}{
		{file: "show-running.txt", loaded: true, running: true, pid: 8607, state: "active/running", hasMon: true},
		{file: "show-running-enabled.txt", loaded: true, running: true, enabled: true, pid: 8607, state: "active/running", hasMon: true},
		// Waiting out RestartSec after a SIGSEGV: the properties still say why.
		{file: "show-auto-restart.txt", loaded: true, waiting: true, state: "activating/auto-restart",
			cause: "signal 11 (SIGSEGV)", abnormal: true, exitKnown: true, hasMon: true},
		// Restarted after the SIGSEGV: Result is success again; only
		// NRestarts (and the journal) remember.
		{file: "show-restarted.txt", loaded: true, running: true, pid: 8714, restarts: 1, state: "active/running", hasMon: true},
		{file: "show-failed-exit.txt", loaded: true, failed: true, state: "failed/failed", cause: "exit code 3", abnormal: true, exitKnown: true, hasMon: true},
		{file: "show-failed-core.txt", loaded: true, failed: true, state: "failed/failed", cause: "core dump (signal 6, SIGABRT)", abnormal: true, exitKnown: true, hasMon: true},
		// A crash loop cut off by the start limit keeps its crash's Result.
		{file: "show-failed-loop.txt", loaded: true, failed: true, restarts: 5, state: "failed/failed", cause: "exit code 1", abnormal: true, exitKnown: true, hasMon: true},
		// A unit that exits 0 and is restarted until the limit: start-limit-hit.
		{file: "show-start-limit-hit.txt", loaded: true, failed: true, limit: true, restarts: 5, state: "failed/failed",
			cause: "start-limit-hit: exit code 0", abnormal: true, exitKnown: true, hasMon: true},
		{file: "show-reset-failed.txt", loaded: true, state: "inactive/dead"},
		{file: "show-stopped-disabled.txt", loaded: true, state: "inactive/dead"},
		{file: "show-not-found.txt", state: "inactive/dead"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			u, err := ParseShow(readFixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := []any{u.Loaded(), u.Running(), u.WaitingToRestart(), u.Failed(), u.StartLimitHit(), u.Enabled(),
				u.MainPID, u.NRestarts, u.State(), u.ExitCause(), u.Abnormal(), u.ExitKnown(), u.ExecMainStartMonotonic > 0}
			want := []any{tt.loaded, tt.running, tt.waiting, tt.failed, tt.limit, tt.enabled,
				tt.pid, tt.restarts, tt.state, tt.cause, tt.abnormal, tt.exitKnown, tt.hasMon}
			names := []string{"Loaded", "Running", "WaitingToRestart", "Failed", "StartLimitHit", "Enabled",
				"MainPID", "NRestarts", "State", "ExitCause", "Abnormal", "ExitKnown", "has start time"}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s = %v, want %v", names[i], got[i], want[i])
				}
			}
			if len(u.Fields) != len(ShowProperties) {
				t.Errorf("%d fields, want the %d asked for: %v", len(u.Fields), len(ShowProperties), u.Fields)
			}
		})
	}
}

func TestParseShowRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"not key=value":  "LoadState=loaded\nSystem has not been booted with systemd as init system (PID 1). Can't operate.\n",
		"no LoadState":   "ActiveState=active\nMainPID=1\n",
		"negative pid":   "LoadState=loaded\nMainPID=-1\n",
		"pid not a num":  "LoadState=loaded\nMainPID=12a\n",
		"huge monotonic": "LoadState=loaded\nExecMainStartTimestampMonotonic=99999999999999999999\n",
		"space in key":   "Load State=loaded\n",
	} {
		t.Run(name, func(t *testing.T) {
			if u, err := ParseShow([]byte(in)); !errors.Is(err, ErrParse) {
				t.Fatalf("got %+v, %v; want ErrParse", u, err)
			}
		})
	}
	// Several units' blocks: the first counts.
	u, err := ParseShow([]byte("LoadState=loaded\nMainPID=7\n\nLoadState=not-found\nMainPID=0\n"))
	if err != nil || u.MainPID != 7 || !u.Loaded() {
		t.Fatalf("two blocks: %+v, %v", u, err)
	}
}

// Each journal is a real unit's (testdata/capture.sh), read for why it
// last died.
func TestParseJournalRealOutput(t *testing.T) {
	tests := []struct {
		file string
		want JournalCause
	}{
		{"journal-segv.txt", JournalCause{Exit: "signal 11 (SIGSEGV)", Result: "signal"}},
		// Restarted after the crash: the journal still has it.
		{"journal-once.txt", JournalCause{Exit: "signal 11 (SIGSEGV)", Result: "signal"}},
		{"journal-exit.txt", JournalCause{Exit: "exit code 3", Result: "exit-code"}},
		{"journal-core.txt", JournalCause{Exit: "core dump (signal 6, SIGABRT)", Result: "core-dump"}},
		{"journal-loop.txt", JournalCause{Exit: "exit code 1", Result: "exit-code", StartLimitHit: true}},
		{"journal-flap.txt", JournalCause{Exit: "start-limit-hit", Result: "start-limit-hit", StartLimitHit: true}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			if got := ParseJournal(readFixture(t, tt.file)); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	for name, in := range map[string]string{
		"empty":              "",
		"the server's lines": "llama_model_load: loaded meta data\nsrv  log_server_r: request: GET /health 127.0.0.1 200\n",
		"a forged code":      "x.service: Main process exited, code=vanished, status=11/SEGV\n",
		"a forged status":    "x.service: Main process exited, code=killed, status=eleven/SEGV\n",
		// The unit's own output shares the journal: a result is one of
		// systemd's words (lower case and hyphens), never a terminal's
		// escape sequence or prose.
		"an escape as result": "x.service: Failed with result '\x1b]0;pwned\x07\x1b[2J'.\n",
		"prose as result":     "x.service: Failed with result 'Your GPU is fine, ignore'.\n",
	} {
		if got := ParseJournal([]byte(in)); !got.Empty() {
			t.Errorf("%s: got %+v, want nothing", name, got)
		}
	}
	oom := "x.service: Main process exited, code=killed, status=9/KILL\nx.service: Failed with result 'oom-kill'.\n"
	if got := ParseJournal([]byte(oom)); got.Exit != "oom-kill: signal 9 (SIGKILL)" {
		t.Errorf("oom-kill: %+v", got)
	}
}

// TestParseJournalJSONIgnoresTheServer: journal-liar.* is a real unit
// that exits 3 and, restarted, prints systemd's words for a SIGSEGV and an
// OOM kill. Read as text the lie is the newest death; read as JSON, the
// lines the unit wrote itself (its trusted _SYSTEMD_UNIT) are skipped and
// systemd's own say exit code 3.
func TestParseJournalJSONIgnoresTheServer(t *testing.T) {
	lie := JournalCause{Exit: "oom-kill: signal 11 (SIGSEGV)", Result: "oom-kill"}
	if got := ParseJournal(readFixture(t, "journal-liar.txt")); got != lie {
		t.Fatalf("as text: got %+v; the fixture no longer shows the lie (%+v)", got, lie)
	}
	truth := JournalCause{Exit: "exit code 3", Result: "exit-code"}
	if got := ParseJournalJSON(readFixture(t, "journal-liar.json"), "council-liar.service"); got != truth {
		t.Fatalf("as JSON: got %+v, want %+v", got, truth)
	}
	// Under a user manager the unit's own lines carry _SYSTEMD_USER_UNIT.
	user := `{"MESSAGE":"x.service: Main process exited, code=exited, status=1/FAILURE","_SYSTEMD_UNIT":"user@1000.service","_SYSTEMD_USER_UNIT":"init.scope"}
{"MESSAGE":"x.service: Main process exited, code=killed, status=11/SEGV","_SYSTEMD_UNIT":"user@1000.service","_SYSTEMD_USER_UNIT":"x.service"}
{"MESSAGE":[120,46,115,101,114,118,105,99,101],"_SYSTEMD_UNIT":"user@1000.service"}
not json
`
	if got := ParseJournalJSON([]byte(user), "x.service"); got.Exit != "exit code 1" {
		t.Errorf("user scope: got %+v, want exit code 1 from the user manager's line", got)
	}
}

// error-*.txt are systemctl's real failures: "exit N" then its output.
func TestErrorsMeanWhatSystemdSays(t *testing.T) {
	tests := []struct {
		file                           string
		unavailable, denied, notLoaded bool
	}{
		{"error-not-booted.txt", true, false, false},
		{"error-no-user-manager.txt", true, false, false},
		{"error-no-runtime-dir.txt", true, false, false},
		{"error-other-user.txt", true, false, false},
		{"error-restart-not-found.txt", false, false, true},
		{"error-restart-start-limit.txt", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := string(readFixture(t, tt.file))
			first, out, _ := strings.Cut(b, "\n")
			code, err := strconv.Atoi(strings.TrimPrefix(first, "exit "))
			if err != nil {
				t.Fatal(first)
			}
			e := error(&ExitError{Command: "systemctl", Args: []string{"--user", "restart", "x.service"}, Code: code, Output: out})
			got := []bool{errors.Is(e, service.ErrUnavailable), errors.Is(e, service.ErrNotPermitted), errors.Is(e, service.ErrNotLoaded)}
			want := []bool{tt.unavailable, tt.denied, tt.notLoaded}
			for i, n := range []string{"ErrUnavailable", "ErrNotPermitted", "ErrNotLoaded"} {
				if got[i] != want[i] {
					t.Errorf("errors.Is(%s) = %v, want %v (%v)", n, got[i], want[i], e)
				}
			}
		})
	}
	// A polkit refusal of a system unit, as systemctl prints a D-Bus
	// AccessDenied (exit 4, EXIT_NOPERMISSION) or an interactive
	// authorization it may not ask for (--no-ask-password, exit 1). Not
	// captured: this machine has no polkit; the wording is systemd's
	// bus error text.
	for _, e := range []*ExitError{
		{Command: "systemctl", Code: 4, Output: "Failed to restart ollama.service: Access denied\n"},
		{Command: "systemctl", Code: 1, Output: "Failed to restart ollama.service: Interactive authentication required.\n"},
	} {
		if !errors.Is(e, service.ErrNotPermitted) || errors.Is(e, service.ErrUnavailable) {
			t.Errorf("%v: not read as not permitted", e)
		}
	}
}

func TestUnitName(t *testing.T) {
	for in, want := range map[string]string{
		"ollama": "ollama.service", "ollama.service": "ollama.service", "com.sanctum.mlx": "com.sanctum.mlx.service",
		"council-guardian.timer": "council-guardian.timer", "llama-server@7b.service": "llama-server@7b.service",
	} {
		if got := UnitName(in); got != want {
			t.Errorf("UnitName(%q) = %q, want %q", in, got, want)
		}
		if err := ValidateUnit(in); err != nil {
			t.Errorf("ValidateUnit(%q): %v", in, err)
		}
	}
	for _, bad := range []string{"", "-H", "--user", "a b", "x;reboot", "a/b", "../x", ".service", strings.Repeat("a", 250)} {
		if err := ValidateUnit(bad); !errors.Is(err, service.ErrInvalidName) {
			t.Errorf("ValidateUnit(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

// TestStartedFromMonotonic: systemd's monotonic start is turned into a
// time against CLOCK_MONOTONIC now; a start after now is now, and one so
// large it would wrap a Duration is too (before, 2^62 µs wrapped to a
// start 16 minutes ago: a process that never was).
func TestStartedFromMonotonic(t *testing.T) {
	wall := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	r := &Runner{Now: func() time.Time { return wall }, Monotonic: func() (time.Duration, error) { return 1000 * time.Second, nil }}
	for _, tc := range []struct {
		monoUS uint64
		want   time.Time
	}{
		{0, time.Time{}},
		{400_000_000, wall.Add(-600 * time.Second)},
		{1000_000_000, wall},
		{2000_000_000, wall},
		{1 << 62, wall},
	} {
		if got := r.started(tc.monoUS); !got.Equal(tc.want) {
			t.Errorf("started(%d) = %v, want %v", tc.monoUS, got, tc.want)
		}
	}
}
