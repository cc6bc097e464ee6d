package systemctl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// ErrParse is wrapped by the parsers when output is not in systemd's format.
var ErrParse = errors.New("unrecognised systemd output")

// ShowProperties are the properties Show asks for (systemctl show -p).
var ShowProperties = []string{
	"LoadState", "ActiveState", "SubState", "MainPID", "NRestarts", "Result",
	"ExecMainCode", "ExecMainStatus", "ExecMainStartTimestampMonotonic", "UnitFileState",
}

// How the main process ended, systemd's ExecMainCode: the si_code of the
// SIGCHLD it got (CLD_EXITED, CLD_KILLED, CLD_DUMPED); 0 while none ended.
const (
	CodeExited = 1
	CodeKilled = 2
	CodeDumped = 3
)

// Unit is what the probes read of `systemctl show UNIT -p ...`.
type Unit struct {
	LoadState   string // "loaded", "not-found", "masked", "error", ...
	ActiveState string // "active", "activating", "deactivating", "inactive", "failed", "reloading"
	SubState    string // "running", "auto-restart", "dead", "failed", ...
	MainPID     int    // 0 when no main process runs
	NRestarts   int    // restarts by Restart= since the unit was last started by hand
	// Result is why the unit last failed, or "success": "exit-code",
	// "signal", "core-dump", "oom-kill", "timeout", "watchdog",
	// "start-limit-hit", "resources", "protocol". systemd resets it (and
	// ExecMainCode/Status) when the unit starts again.
	Result         string
	ExecMainCode   int // CodeExited, CodeKilled, CodeDumped; 0 none
	ExecMainStatus int // the exit status, or the signal number
	// ExecMainStartMonotonic is when the main process started, in
	// microseconds of CLOCK_MONOTONIC; 0 when it never did.
	ExecMainStartMonotonic uint64
	UnitFileState          string // "enabled", "disabled", "static", "masked", "" (no unit file)

	// Fields holds every "Key=value" line as printed.
	Fields map[string]string
}

// Loaded reports whether systemd has loaded the unit's configuration.
func (u *Unit) Loaded() bool { return u.LoadState == "loaded" }

// Running reports whether a main process runs.
func (u *Unit) Running() bool {
	return u.MainPID > 0 && (u.ActiveState == "active" || u.ActiveState == "reloading" || u.ActiveState == "deactivating")
}

// Active reports whether systemd runs the unit or keeps it scheduled
// (active, activating, reloading): a service running or waiting out
// RestartSec, a timer waiting for its next run.
func (u *Unit) Active() bool {
	return u.ActiveState == "active" || u.ActiveState == "activating" || u.ActiveState == "reloading"
}

// WaitingToRestart reports whether the main process died and Restart= has
// scheduled the next start (RestartSec).
func (u *Unit) WaitingToRestart() bool { return u.SubState == "auto-restart" }

// Failed reports whether systemd gave up on the unit.
func (u *Unit) Failed() bool { return u.ActiveState == "failed" }

// StartLimitHit reports whether the unit failed because it was started too
// often. systemd sets it only when the last result was otherwise a
// success (a unit that exits 0 and is restarted, or restarted by hand too
// often); a crash loop keeps its crash's Result, and only the journal's
// "Start request repeated too quickly." tells (ParseJournal).
func (u *Unit) StartLimitHit() bool { return u.Result == "start-limit-hit" }

// Enabled reports whether the unit starts on its own at boot or login.
func (u *Unit) Enabled() bool {
	return u.UnitFileState == "enabled" || u.UnitFileState == "enabled-runtime"
}

// State is "active/running", as systemctl status shows it.
func (u *Unit) State() string { return u.ActiveState + "/" + u.SubState }

// ExitKnown reports whether ExecMainCode and ExecMainStatus still say how
// the last process ended: systemd resets them when the unit starts again,
// so after Restart= has brought it back they say nothing. They tell only
// while the unit waits to restart or has failed.
func (u *Unit) ExitKnown() bool {
	return (u.WaitingToRestart() || u.Failed()) && u.ExecMainCode != 0
}

// Abnormal reports whether the last process ended badly, as far as the
// properties still tell (ExitKnown).
func (u *Unit) Abnormal() bool {
	if !u.ExitKnown() {
		return u.Failed() && u.Result != "success" && u.Result != ""
	}
	return u.ExecMainCode != CodeExited || u.ExecMainStatus != 0 || (u.Result != "success" && u.Result != "")
}

// ExitCause words how the last process ended, for an alert: "signal 11
// (SIGSEGV)", "exit code 3", "core dump (signal 6, SIGABRT)", with the
// unit's Result when it says more ("oom-kill: signal 9 (SIGKILL)",
// "start-limit-hit: exit code 0"); "" when the properties no longer tell
// (ExitKnown).
func (u *Unit) ExitCause() string {
	if !u.ExitKnown() {
		if u.Failed() && u.Result != "" && u.Result != "success" {
			return u.Result
		}
		return ""
	}
	how := ExitWords(u.ExecMainCode, u.ExecMainStatus)
	switch u.Result {
	case "", "success", "exit-code", "signal", "core-dump":
		return how // the words say it already
	}
	return u.Result + ": " + how
}

// ExitWords words an ExecMainCode and ExecMainStatus.
func ExitWords(code, status int) string {
	switch code {
	case CodeKilled:
		return fmt.Sprintf("signal %d (%s)", status, SignalName(status))
	case CodeDumped:
		return fmt.Sprintf("core dump (signal %d, %s)", status, SignalName(status))
	}
	return fmt.Sprintf("exit code %d", status)
}

// linuxSignals are the names of Linux's signals on x86 and ARM (signal(7)):
// systemd numbers them so, whatever OS reads its output.
var linuxSignals = [...]string{1: "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
	"SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
	"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
	"SIGIO", "SIGPWR", "SIGSYS"}

// SignalName is the name of Linux signal n ("SIGSEGV"), or "signal n".
func SignalName(n int) string {
	if n > 0 && n < len(linuxSignals) {
		return linuxSignals[n]
	}
	return "signal " + strconv.Itoa(n)
}

// maxShowLine bounds one line of show's output; systemd's properties are
// short, but ExecStart= and Environment= can be long.
const maxShowLine = 64 << 10

// ParseShow parses the output of `systemctl show UNIT -p ...`: "Key=value"
// lines, in systemd's order, not the order asked. Several units' blocks are
// separated by a blank line; only the first counts. A line without '=' is
// not systemd's output.
func ParseShow(out []byte) (*Unit, error) {
	u := &Unit{Fields: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 4096), maxShowLine)
	started := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			if started {
				break
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("parse systemctl show: line %q: %w", text.Cut(line, 80), ErrParse)
		}
		started = true
		u.Fields[key] = value
		if err := u.set(key, value); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse systemctl show: %w: %w", err, ErrParse)
	}
	if u.LoadState == "" {
		return nil, fmt.Errorf("parse systemctl show: no LoadState: %w", ErrParse)
	}
	return u, nil
}

func (u *Unit) set(key, value string) error {
	num := func() (int, error) {
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("parse systemctl show: %s=%q: %w", key, text.Cut(value, 40), ErrParse)
		}
		return n, nil
	}
	var err error
	switch key {
	case "LoadState":
		u.LoadState = value
	case "ActiveState":
		u.ActiveState = value
	case "SubState":
		u.SubState = value
	case "Result":
		u.Result = value
	case "UnitFileState":
		u.UnitFileState = value
	case "MainPID":
		u.MainPID, err = num()
	case "NRestarts":
		u.NRestarts, err = num()
	case "ExecMainCode":
		u.ExecMainCode, err = num()
	case "ExecMainStatus":
		u.ExecMainStatus, err = num()
	case "ExecMainStartTimestampMonotonic":
		u.ExecMainStartMonotonic, err = strconv.ParseUint(value, 10, 63)
		if err != nil {
			err = fmt.Errorf("parse systemctl show: %s=%q: %w", key, text.Cut(value, 40), ErrParse)
		}
	}
	return err
}
