// Package systemctl runs systemd's systemctl(1) and journalctl(1) for the
// probes: it is pkg/host/service's Manager on Linux, beside launchd's
// pkg/host/launchctl, and holds systemd's remediation recipes (recipes.go).
//
// Both commands are run by argv from a configurable path, never through a
// shell, against the user's manager (--user, the default: units in
// ~/.config/systemd/user) or the system's (--scope system). Unit names are
// validated before anything runs; a name with no unit type gets
// ".service", as systemctl itself does.
//
// What systemd says is read with `systemctl show UNIT -p ...` (ParseShow)
// and, for the cause of a death that Restart= has covered up, from the
// unit's journal (ParseJournal). Both parsers are plain functions over
// text, tested on any OS against fixtures captured from a real systemd
// (testdata/capture.sh says how) and fuzzed.
//
// A failed command comes back as an *ExitError carrying the exit code and
// the output; errors.Is tells the service errors apart: ErrNotLoaded (a
// unit systemd does not know, exit 5), ErrNotPermitted (exit 4, "Access
// denied", "Interactive authentication required": a system unit without
// root or the polkit rule) and ErrUnavailable (no systemctl, no user
// manager, not booted with systemd).
//
// A Runner in dry-run mode prints the exact argv of every command that
// would change systemd's state and runs only the read-only ones (show,
// journalctl).
package systemctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/lock"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/service"
)

// Defaults used by New (and by a zero Runner).
const (
	DefaultPath        = "systemctl"
	DefaultJournalPath = "journalctl"
	// DefaultJournalLines bounds how many journal lines the cause of a
	// death is looked for in; DefaultJournalBytes how much of them is
	// kept.
	DefaultJournalLines = 2000
	DefaultJournalBytes = 256 << 10
)

// Scope is the systemd instance a Runner talks to.
type Scope string

// The scopes: the calling user's manager (systemctl --user) or the
// system's.
const (
	ScopeUser   Scope = "user"
	ScopeSystem Scope = "system"
)

// ParseScope reads a --scope value.
func ParseScope(s string) (Scope, error) {
	switch Scope(s) {
	case ScopeUser, ScopeSystem:
		return Scope(s), nil
	}
	return "", fmt.Errorf("bad scope %q: want user or system", s)
}

// Runner runs systemctl and journalctl for one scope. The function fields
// are its side effects; New fills them with the real ones and tests
// replace them. A zero Runner works and uses the defaults (user scope).
type Runner struct {
	// Path is the systemctl binary, JournalPath journalctl.
	Path        string
	JournalPath string
	Scope       Scope
	// DryRun prints mutating commands to Out instead of running them.
	DryRun bool
	Out    io.Writer

	// VerifyTimeout bounds a recipe's verify loop; VerifyInterval is the
	// pause between attempts; LockTimeout bounds the wait for the shared
	// remediation lock; StepTimeout each systemctl step of a promotion.
	VerifyTimeout  time.Duration
	VerifyInterval time.Duration
	LockTimeout    time.Duration
	StepTimeout    time.Duration

	// Exec runs path with args and returns the combined output and the
	// exit code; err is non-nil only when the command could not run or
	// ctx ended.
	Exec func(ctx context.Context, path string, args []string) (out []byte, code int, err error)
	// ExecTail is Exec for journalctl: it keeps only the last max bytes of
	// the command's standard output (a server may log without end).
	ExecTail func(ctx context.Context, path string, args []string, max int64) (out []byte, code int, err error)
	// Monotonic is CLOCK_MONOTONIC now, the clock of systemd's
	// ExecMainStartTimestampMonotonic.
	Monotonic func() (time.Duration, error)
	Sleep     func(ctx context.Context, d time.Duration) error
	Now       func() time.Time
	// AcquireLock takes the shared remediation lock.
	AcquireLock func(ctx context.Context, path string) (*lock.Lock, error)
}

// New returns a Runner for the systemctl at path (DefaultPath if empty),
// journalctl at journal (DefaultJournalPath if empty), in scope.
func New(path, journal string, scope Scope) *Runner {
	if path == "" {
		path = DefaultPath
	}
	if journal == "" {
		journal = DefaultJournalPath
	}
	return &Runner{
		Path: path, JournalPath: journal, Scope: scope, Out: os.Stdout,
		VerifyTimeout: service.DefaultVerifyTimeout, VerifyInterval: service.DefaultVerifyInterval,
		LockTimeout: service.DefaultLockTimeout, StepTimeout: service.DefaultStepTimeout,
		Exec: service.ExecCommand, ExecTail: ExecTail, Monotonic: monotonicNow,
		Sleep: service.SleepContext, Now: time.Now, AcquireLock: lock.Acquire,
	}
}

// ExitError is a systemctl or journalctl command that ran and exited
// non-zero.
type ExitError struct {
	Command string   // "systemctl" or "journalctl"
	Args    []string // arguments after the program name
	Code    int      // exit status
	Output  string   // combined stdout and stderr
}

// ExitCode is the command's exit status.
func (e *ExitError) ExitCode() int { return e.Code }

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s %s: exit %d: %s", e.Command, strings.Join(shortArgs(e.Args), " "), e.Code, oneLine(e.Output))
}

// shortArgs are args without show's long property list: an error names
// the verb and the unit, and must fit a status line.
func shortArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-p" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// Is lets errors.Is see what the command's exit status and output mean:
// service.ErrUnavailable (systemd cannot be asked), ErrNotPermitted,
// ErrNotLoaded.
func (e *ExitError) Is(target error) bool {
	switch target {
	case service.ErrUnavailable:
		return unavailable(e.Output)
	case service.ErrNotPermitted:
		return !unavailable(e.Output) && (e.Code == 4 ||
			strings.Contains(e.Output, "Access denied") || strings.Contains(e.Output, "Interactive authentication required"))
	case service.ErrNotLoaded:
		return e.Code == 5 || strings.Contains(e.Output, " not found.") || strings.Contains(e.Output, " not loaded.") ||
			strings.Contains(e.Output, "does not exist")
	}
	return false
}

// unavailable reports whether output is systemctl failing to reach any
// manager at all (testdata/error-*.txt): no user manager runs, the runtime
// directory is wrong, another user's bus, a host not booted with systemd.
func unavailable(output string) bool {
	return strings.Contains(output, "Failed to connect to bus") ||
		strings.Contains(output, "System has not been booted with systemd") ||
		strings.Contains(output, "Failed to connect to user scope bus")
}

// unitTypes are systemd's unit types (systemd.unit(5)).
var unitTypes = map[string]bool{
	"service": true, "socket": true, "device": true, "mount": true, "automount": true, "swap": true,
	"target": true, "path": true, "timer": true, "slice": true, "scope": true,
}

var unitRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$`)

// UnitName is name as systemd names the unit: with ".service" appended
// when it has no unit type, as systemctl does ("ollama" and
// "com.sanctum.mlx" are "ollama.service" and "com.sanctum.mlx.service").
// Not inlined: it is called from twenty places, none hot.
//
//go:noinline
func UnitName(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 && unitTypes[name[i+1:]] {
		return name
	}
	return name + ".service"
}

// ValidateUnit checks that name is a unit name systemd accepts (letters,
// digits, ":", "-", "_", ".", "\", "@"; at most 255 bytes with its type)
// and cannot be read as an option.
func ValidateUnit(name string) error {
	u := UnitName(name)
	if len(u) > 255 || !unitRE.MatchString(u) || strings.HasPrefix(u, ".") {
		return fmt.Errorf("%w: %q is not a systemd unit name", service.ErrInvalidName, name)
	}
	return nil
}

func (r *Runner) path() string {
	if r.Path == "" {
		return DefaultPath
	}
	return r.Path
}

func (r *Runner) journalPath() string {
	if r.JournalPath == "" {
		return DefaultJournalPath
	}
	return r.JournalPath
}

func (r *Runner) scope() Scope {
	if r.Scope == "" {
		return ScopeUser
	}
	return r.Scope
}

func (r *Runner) out() io.Writer {
	if r.Out == nil {
		return os.Stdout
	}
	return r.Out
}

// args is the argv after the program name: the scope, then args.
// Mutating commands on the system manager never wait for a password: a
// probe has no terminal, and a refusal must come back as "not
// permitted", not hang.
func (r *Runner) args(mutating bool, args ...string) []string {
	out := []string{"--" + string(r.scope())}
	if mutating && r.scope() == ScopeSystem {
		out = append(out, "--no-ask-password")
	}
	return append(out, args...)
}

// CommandLine renders the systemctl argv for args, quoting what a shell
// would split, for dry-run output and step lists.
func (r *Runner) CommandLine(mutating bool, args ...string) string {
	parts := []string{quoteArg(r.path())}
	for _, a := range r.args(mutating, args...) {
		parts = append(parts, quoteArg(a))
	}
	return strings.Join(parts, " ")
}

// run executes systemctl with args. A mutating command in dry-run mode is
// printed instead. The command line (or the dry-run line) is appended to
// steps when steps is non-nil.
func (r *Runner) run(ctx context.Context, steps *[]string, mutating bool, args ...string) ([]byte, error) {
	line := r.CommandLine(mutating, args...)
	if mutating && r.DryRun {
		fmt.Fprintf(r.out(), "dry-run: %s\n", line)
		if steps != nil {
			*steps = append(*steps, "dry-run: "+line)
		}
		return nil, nil
	}
	if steps != nil {
		*steps = append(*steps, line)
	}
	argv := r.args(mutating, args...)
	exec := r.Exec
	if exec == nil {
		exec = service.ExecCommand
	}
	out, code, err := exec(ctx, r.path(), argv)
	if err != nil {
		if service.IsMissingCommand(err) {
			return out, fmt.Errorf("systemctl %s: %w: %w", strings.Join(argv, " "), service.ErrUnavailable, err)
		}
		return out, fmt.Errorf("systemctl %s: %w", strings.Join(argv, " "), err)
	}
	if code != 0 {
		return out, &ExitError{Command: "systemctl", Args: argv, Code: code, Output: string(out)}
	}
	return out, nil
}

// Show runs `systemctl show UNIT -p <ShowProperties>` and parses it. A unit
// systemd does not know is still an answer (LoadState=not-found).
func (r *Runner) Show(ctx context.Context, name string) (*Unit, error) {
	if err := ValidateUnit(name); err != nil {
		return nil, fmt.Errorf("systemctl show: %w", err)
	}
	out, err := r.run(ctx, nil, false, "show", UnitName(name), "-p", strings.Join(ShowProperties, ","))
	if err != nil {
		return nil, err
	}
	return ParseShow(out)
}

// mutate runs a state-changing systemctl verb on unit.
func (r *Runner) mutate(ctx context.Context, steps *[]string, verb string, flags []string, name string) error {
	if err := ValidateUnit(name); err != nil {
		return fmt.Errorf("systemctl %s: %w", verb, err)
	}
	args := append(append([]string{verb}, flags...), UnitName(name))
	_, err := r.run(ctx, steps, true, args...)
	return err
}

// Restart, start, stop, enable and disable, as systemctl runs them.
func (r *Runner) restart(ctx context.Context, steps *[]string, name string) error {
	return r.mutate(ctx, steps, "restart", nil, name)
}

func (r *Runner) start(ctx context.Context, steps *[]string, name string) error {
	return r.mutate(ctx, steps, "start", nil, name)
}

func (r *Runner) resetFailed(ctx context.Context, steps *[]string, name string) error {
	return r.mutate(ctx, steps, "reset-failed", nil, name)
}

// enableNow is `enable --now`: enable (start at boot or login) and start.
func (r *Runner) enableNow(ctx context.Context, steps *[]string, name string) error {
	return r.mutate(ctx, steps, "enable", []string{"--now"}, name)
}

// disableNow is `disable --now`: disable and stop.
func (r *Runner) disableNow(ctx context.Context, steps *[]string, name string) error {
	return r.mutate(ctx, steps, "disable", []string{"--now"}, name)
}

// journalArgs is journalctl's argv for unit's newest lines in output
// format ("cat", or "json" with JournalFields), since a time when since is
// not zero.
func (r *Runner) journalArgs(name, output string, lines int, since time.Time) []string {
	var args []string
	if r.scope() == ScopeUser {
		args = append(args, "--user")
	}
	args = append(args, "-u", UnitName(name), "-o", output)
	if output == "json" {
		args = append(args, "--output-fields="+JournalFields)
	}
	args = append(args, "--no-pager", "-q", "-n", strconv.Itoa(lines))
	if !since.IsZero() {
		args = append(args, "--since", "@"+strconv.FormatInt(since.Unix(), 10))
	}
	return args
}

// Journal returns the last maxBytes of unit's newest journal lines (at
// most lines of them), in whole lines, as `journalctl -o cat` prints them.
func (r *Runner) Journal(ctx context.Context, name string, lines int, maxBytes int64, since time.Time) ([]byte, error) {
	return r.journal(ctx, name, "cat", lines, maxBytes, since)
}

// journal is Journal in an output format of journalctl's: "cat" or "json".
func (r *Runner) journal(ctx context.Context, name, output string, lines int, maxBytes int64, since time.Time) ([]byte, error) {
	if err := ValidateUnit(name); err != nil {
		return nil, fmt.Errorf("journalctl: %w", err)
	}
	args := r.journalArgs(name, output, lines, since)
	tail := r.ExecTail
	if tail == nil {
		tail = ExecTail
	}
	out, code, err := tail(ctx, r.journalPath(), args, maxBytes)
	if err != nil {
		if service.IsMissingCommand(err) {
			return nil, fmt.Errorf("journalctl %s: %w: %w", strings.Join(args, " "), service.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("journalctl %s: %w", strings.Join(args, " "), err)
	}
	if code != 0 {
		return nil, &ExitError{Command: "journalctl", Args: args, Code: code, Output: string(out)}
	}
	return out, nil
}

// oneLine is a command's output as one line of plain text for an error
// (text.Clean: a unit's description or a server's words may be in it),
// bounded.
func oneLine(s string) string {
	if s = text.Cut(text.Clean(s), 400); s == "" {
		return "(no output)"
	}
	return s
}

func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\$`;&|<>()*?[]#~!{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
