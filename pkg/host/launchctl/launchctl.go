// Package launchctl runs launchd's launchctl(1) for the probes and holds the
// remediation recipes they share: Restart, Reload, PromoteFallback and
// RestorePrimary.
//
// launchctl is run by argv from a configurable path, never through a shell,
// against the per-user GUI domain (gui/<uid>, service gui/<uid>/<label>).
// Labels are validated before anything runs. A failed command comes back as
// an *ExitError carrying the exit code and launchctl's combined output, so
// callers can tell "not loaded" (IsNotLoaded) and "5: Input/output error"
// (IsIOError) apart from real failures.
//
// A Runner in dry-run mode prints the exact argv of every command that would
// change launchd's state and runs only the read-only ones (print,
// print-disabled).
//
// The parsers of launchctl's output (ParsePrint, ParsePrintDisabled) are
// plain functions over text so they are tested on any OS against fixtures of
// launchctl's real output. The launchdsim subpackage is a fake launchctl for
// tests on machines without launchd.
package launchctl

import (
	"context"
	"errors"
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
	DefaultPath = "launchctl"
	// DefaultVerifyTimeout is how long a restart or promotion may take to
	// serve again: launchd's stop of the old process (ExitTimeOut, up to
	// LaunchdExitTimeout from SIGTERM to SIGKILL), the new one's start
	// (PrimaryStartup) and a margin. The stop counts: a server may keep its
	// process after SIGTERM (llama-server with a stream open kept it 30 s
	// until killed), and the new one starts only after the old has gone.
	DefaultVerifyTimeout  = LaunchdExitTimeout + PrimaryStartup + 20*time.Second
	DefaultVerifyInterval = 2 * time.Second
	// LaunchdExitTimeout is launchd's default ExitTimeOut: what a stop
	// waits between SIGTERM and SIGKILL. launchd.plist(5) calls it
	// "system-defined"; launchd's source sets LAUNCHD_DEFAULT_EXIT_TIMEOUT
	// to 20. (systemd's DefaultTimeoutStopSec is 90 s.)
	LaunchdExitTimeout = 20 * time.Second
	// PrimaryStartup is what the council's primary takes to start: it
	// spends about 80 s verifying and loading its weights.
	PrimaryStartup = 80 * time.Second
	// DefaultLockTimeout outlasts another remediation's verify loop: the
	// holder of the shared lock kickstarts and verifies (at most
	// DefaultVerifyTimeout), and a promotion waiting behind it must not
	// give up and alert while a restart is merely being verified.
	DefaultLockTimeout = DefaultVerifyTimeout + 30*time.Second
	// DefaultStepTimeout bounds one launchctl step of a switch between
	// primary and fallback; launchctl answers in well under a second, and
	// launchd's own SIGKILL of a probe that ignores SIGTERM comes after 20.
	DefaultStepTimeout = service.DefaultStepTimeout
)

// ErrInvalidLabel is returned (wrapped) for a label that is not a launchd
// reverse-DNS label; nothing is run.
var ErrInvalidLabel = errors.New("invalid launchd label")

// Runner runs launchctl for one user's GUI domain. The function fields are
// its side effects; New fills them with the real ones and tests replace
// them. A zero Runner works and uses the defaults.
type Runner struct {
	// Path is the launchctl binary (the probes' --launchctl flag).
	Path string
	// UID selects the domain gui/<UID>.
	UID int
	// DryRun prints mutating commands to Out instead of running them.
	DryRun bool
	// Out receives dry-run lines; nil means os.Stdout.
	Out io.Writer

	// VerifyTimeout bounds a recipe's verify loop; VerifyInterval is the
	// pause between attempts.
	VerifyTimeout  time.Duration
	VerifyInterval time.Duration
	// LockTimeout bounds the wait for the shared remediation lock.
	LockTimeout time.Duration
	// BootstrapRetryDelay is the pause before retrying a bootstrap that
	// failed with "5: Input/output error" (launchd finishes a bootout
	// asynchronously). Zero means no pause.
	BootstrapRetryDelay time.Duration
	// StepTimeout bounds each launchctl step of a promotion. A step runs
	// to its end even when the recipe's context is cancelled (launchd
	// sends SIGTERM when it reloads a probe's own agent; killing launchctl
	// between "disable" and "bootstrap" leaves nothing serving), so this
	// is its only bound.
	StepTimeout time.Duration

	// Exec runs path with args and returns the combined output and the
	// exit code; err is non-nil only when the command could not run or
	// ctx ended.
	Exec func(ctx context.Context, path string, args []string) (out []byte, code int, err error)
	// Sleep pauses for d or until ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock the verify loop measures its budget with.
	Now func() time.Time
	// AcquireLock takes the shared remediation lock.
	AcquireLock func(ctx context.Context, path string) (*lock.Lock, error)
}

// New returns a Runner for the launchctl at path (DefaultPath if empty) and
// the current user's GUI domain.
func New(path string) *Runner {
	if path == "" {
		path = DefaultPath
	}
	return &Runner{
		Path:                path,
		UID:                 os.Getuid(),
		Out:                 os.Stdout,
		VerifyTimeout:       DefaultVerifyTimeout,
		VerifyInterval:      DefaultVerifyInterval,
		LockTimeout:         DefaultLockTimeout,
		BootstrapRetryDelay: DefaultBootstrapRetryDelay,
		StepTimeout:         DefaultStepTimeout,
		Exec:                ExecCommand,
		Sleep:               SleepContext,
		Now:                 time.Now,
		AcquireLock:         lock.Acquire,
	}
}

// ExecCommand is the production Exec: os/exec, no shell, combined output.
func ExecCommand(ctx context.Context, path string, args []string) ([]byte, int, error) {
	return service.ExecCommand(ctx, path, args)
}

// SleepContext sleeps for d or until ctx is done.
func SleepContext(ctx context.Context, d time.Duration) error { return service.SleepContext(ctx, d) }

// ExitError is a launchctl command that ran and exited non-zero.
type ExitError struct {
	Args   []string // arguments after the program name
	Code   int      // exit status
	Output string   // combined stdout and stderr
}

// ExitCode is launchctl's exit status.
func (e *ExitError) ExitCode() int { return e.Code }

func (e *ExitError) Error() string {
	return fmt.Sprintf("launchctl %s: exit %d: %s", strings.Join(e.Args, " "), e.Code, orNoOutput(text.Clean(e.Output)))
}

// IsNotLoaded reports whether err is launchctl saying the service is not in
// the domain: bootout's "3: No such process", print/kickstart's "Could not
// find service", or exit 113.
func IsNotLoaded(err error) bool {
	var ee *ExitError
	if !errors.As(err, &ee) {
		return false
	}
	return ee.Code == 113 ||
		strings.Contains(ee.Output, "No such process") ||
		strings.Contains(ee.Output, "Could not find service")
}

// IsIOError reports whether err is launchctl's "5: Input/output error",
// which bootstrap answers when the label is still loaded (or disabled).
func IsIOError(err error) bool {
	var ee *ExitError
	if !errors.As(err, &ee) {
		return false
	}
	return strings.Contains(ee.Output, "Input/output error") || ee.Code == 5
}

// IsServiceDisabled reports whether err is launchd refusing a service that
// `launchctl disable` turned off ("119: Service is disabled").
func IsServiceDisabled(err error) bool {
	var ee *ExitError
	if !errors.As(err, &ee) {
		return false
	}
	return ee.Code == 119 || strings.Contains(ee.Output, "Service is disabled")
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidateLabel checks that label is a reverse-DNS style launchd label:
// letters, digits, '.', '-', '_', starting with a letter or digit (so it
// can never be read as an option), at most 255 bytes.
func ValidateLabel(label string) error {
	if len(label) > 255 || !labelRE.MatchString(label) {
		return fmt.Errorf("%w: %q", ErrInvalidLabel, label)
	}
	return nil
}

// Domain returns the domain target, gui/<uid>.
func (r *Runner) Domain() string { return "gui/" + strconv.Itoa(r.UID) }

// Service returns the service target gui/<uid>/<label>.
func (r *Runner) Service(label string) string { return r.Domain() + "/" + label }

func (r *Runner) path() string {
	if r.Path == "" {
		return DefaultPath
	}
	return r.Path
}

func (r *Runner) out() io.Writer {
	if r.Out == nil {
		return os.Stdout
	}
	return r.Out
}

func (r *Runner) exec(ctx context.Context, path string, args []string) ([]byte, int, error) {
	if r.Exec == nil {
		return ExecCommand(ctx, path, args)
	}
	return r.Exec(ctx, path, args)
}

// CommandLine renders the argv launchctl would be run with, quoting
// arguments a shell would split, for dry-run output and step lists.
func (r *Runner) CommandLine(args ...string) string {
	parts := make([]string, 0, len(args)+1)
	for _, a := range append([]string{r.path()}, args...) {
		parts = append(parts, quoteArg(a))
	}
	return strings.Join(parts, " ")
}

// run executes launchctl with args. A mutating command in dry-run mode is
// printed instead. The command line (or the dry-run line) is appended to
// steps when steps is non-nil.
func (r *Runner) run(ctx context.Context, steps *[]string, mutating bool, args ...string) ([]byte, error) {
	line := r.CommandLine(args...)
	if r.UID < 0 {
		return nil, fmt.Errorf("launchctl %s: invalid uid %d", strings.Join(args, " "), r.UID)
	}
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
	out, code, err := r.exec(ctx, r.path(), args)
	if err != nil {
		return out, fmt.Errorf("launchctl %s: %w", strings.Join(args, " "), err)
	}
	if code != 0 {
		return out, &ExitError{Args: append([]string(nil), args...), Code: code, Output: string(out)}
	}
	return out, nil
}

// Print runs `launchctl print gui/<uid>/<label>` and parses it. A label
// launchd does not know gives an error for which IsNotLoaded is true.
func (r *Runner) Print(ctx context.Context, label string) (*ServiceInfo, error) {
	if err := ValidateLabel(label); err != nil {
		return nil, fmt.Errorf("launchctl print: %w", err)
	}
	out, err := r.run(ctx, nil, false, "print", r.Service(label))
	if err != nil {
		return nil, err
	}
	return ParsePrint(out)
}

// PrintDisabled runs `launchctl print-disabled gui/<uid>` and returns
// launchd's override database: label -> disabled.
func (r *Runner) PrintDisabled(ctx context.Context) (map[string]bool, error) {
	out, err := r.run(ctx, nil, false, "print-disabled", r.Domain())
	if err != nil {
		return nil, err
	}
	return ParsePrintDisabled(out)
}

// Enable runs `launchctl enable gui/<uid>/<label>`.
func (r *Runner) Enable(ctx context.Context, label string) error {
	return r.enable(ctx, nil, label)
}

// Disable runs `launchctl disable gui/<uid>/<label>`: the enforcement that a
// plist's Disabled key is not, once the label is bootstrapped.
func (r *Runner) Disable(ctx context.Context, label string) error {
	return r.disable(ctx, nil, label)
}

// Bootstrap runs `launchctl bootstrap gui/<uid> <plist>`.
func (r *Runner) Bootstrap(ctx context.Context, plistPath string) error {
	return r.bootstrap(ctx, nil, plistPath)
}

// Bootout runs `launchctl bootout gui/<uid>/<label>`.
func (r *Runner) Bootout(ctx context.Context, label string) error {
	return r.bootout(ctx, nil, label)
}

// Kickstart runs `launchctl kickstart [-k] gui/<uid>/<label>`; kill (-k)
// stops a running instance first. Exit 0 is not a heal: verify it.
func (r *Runner) Kickstart(ctx context.Context, label string, kill bool) error {
	return r.kickstart(ctx, nil, label, kill)
}

func (r *Runner) enable(ctx context.Context, steps *[]string, label string) error {
	if err := ValidateLabel(label); err != nil {
		return fmt.Errorf("launchctl enable: %w", err)
	}
	_, err := r.run(ctx, steps, true, "enable", r.Service(label))
	return err
}

func (r *Runner) disable(ctx context.Context, steps *[]string, label string) error {
	if err := ValidateLabel(label); err != nil {
		return fmt.Errorf("launchctl disable: %w", err)
	}
	_, err := r.run(ctx, steps, true, "disable", r.Service(label))
	return err
}

func (r *Runner) bootstrap(ctx context.Context, steps *[]string, plistPath string) error {
	if plistPath == "" || strings.ContainsRune(plistPath, 0) {
		return fmt.Errorf("launchctl bootstrap: invalid plist path %q", plistPath)
	}
	_, err := r.run(ctx, steps, true, "bootstrap", r.Domain(), plistPath)
	return err
}

func (r *Runner) bootout(ctx context.Context, steps *[]string, label string) error {
	if err := ValidateLabel(label); err != nil {
		return fmt.Errorf("launchctl bootout: %w", err)
	}
	_, err := r.run(ctx, steps, true, "bootout", r.Service(label))
	return err
}

func (r *Runner) kickstart(ctx context.Context, steps *[]string, label string, kill bool) error {
	if err := ValidateLabel(label); err != nil {
		return fmt.Errorf("launchctl kickstart: %w", err)
	}
	args := []string{"kickstart"}
	if kill {
		args = append(args, "-k")
	}
	_, err := r.run(ctx, steps, true, append(args, r.Service(label))...)
	return err
}

// orNoOutput says so when launchctl printed nothing.
func orNoOutput(s string) string {
	if s == "" {
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
