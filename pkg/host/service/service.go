// Package service is the service manager as the probes see it: launchd on
// macOS, systemd on Linux, behind one small interface, Manager. The probes
// use the interface only; pkg/host/launchctl and pkg/host/systemctl
// implement it, each by running its manager's own command (argv, never a
// shell).
//
// What the probes need of a service manager is small: is a job loaded and
// what runs (Status: pid, start time, restarts, how the last process
// ended), restart it and verify the heal (Restart), start it now (Start),
// switch serving from the primary to the fallback and back, resumably and
// under the shared remediation lock (PromoteFallback, ResumePromotion,
// RestorePrimary), whether a job starts at boot or login on its own
// (BootEnabled), and why it last died (DeathCause).
//
// A manager that cannot be asked at all (its command is missing, no user
// manager runs, launchctl itself fails) answers with an error wrapping
// ErrUnavailable: the probes report that once, on the service_manager
// channel, and judge nothing that depends on it. A remediation the manager
// refuses for want of privilege wraps ErrNotPermitted: UNKNOWN with a "not
// permitted" alert, never a silent no-op.
//
// The package also holds what both managers' recipes share: the fallback
// lock (FallbackLock, whose existence means "the fallback serves") with the
// steps of a promotion recorded in it, a recipe's Result, the verify loop
// and the remediation lock (Timing), and the identity of a running process
// (ProcessStart, SameProcess), which lets a healthy guardian tick ask the
// manager nothing at all.
package service

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind names a service manager.
type Kind string

// The service managers.
const (
	Launchd Kind = "launchd"
	Systemd Kind = "systemd"
)

// Errors every manager's recipes and questions share, for errors.Is.
var (
	// ErrNotLoaded: the manager does not know the job (a label not
	// bootstrapped, a unit not found).
	ErrNotLoaded = errors.New("not loaded")
	// ErrUnavailable: the manager cannot be asked at all (its command is
	// missing, no user manager runs, the bus refuses us). Nothing it would
	// have said can be judged.
	ErrUnavailable = errors.New("service manager unavailable")
	// ErrNotPermitted: the manager refused a change for want of privilege
	// (a system unit without root or the polkit rule).
	ErrNotPermitted = errors.New("not permitted")
	// ErrInvalidName: a label or unit name the manager would not accept,
	// or one that could be read as an option; nothing is run.
	ErrInvalidName = errors.New("invalid job name")

	// ErrUnverified: the manager did what it was asked but the service
	// does not serve. A manager's exit status is not a heal.
	ErrUnverified = errors.New("not serving after remediation")
	// ErrRestartUnverified is the ErrUnverified of Restart.
	ErrRestartUnverified = fmt.Errorf("restart unverified: %w", ErrUnverified)
	// ErrAlreadyOnFallback: the fallback lock exists, so the fallback
	// serves; never fall back from the fallback.
	ErrAlreadyOnFallback = errors.New("already on fallback (fallback lock exists)")
	// ErrPrimaryCheckFailed: RestorePrimary's integrity check refused the
	// primary binary; nothing was changed.
	ErrPrimaryCheckFailed = errors.New("primary check failed")
	// ErrRolledBack: RestorePrimary switched to the primary, the primary
	// did not serve (or a step failed), and the switch was undone: the
	// fallback serves again and the fallback lock is kept.
	ErrRolledBack = errors.New("restore failed and was rolled back to the fallback (fallback lock kept)")
	// ErrRollbackFailed: RestorePrimary failed and so did the rollback to
	// the fallback; nothing may be serving. The fallback lock is kept.
	ErrRollbackFailed = errors.New("restore failed and the rollback to the fallback failed too (fallback lock kept)")
	// ErrNothingToResume: ResumePromotion found no fallback lock, or one
	// whose promotion ran all its steps (another probe finished it first).
	ErrNothingToResume = errors.New("no unfinished promotion to resume")
	// ErrLockLabels: the fallback lock names other jobs than the probe
	// was configured with; an unfinished promotion is not resumed on a
	// guess.
	ErrLockLabels = errors.New("fallback lock names other labels")
)

// Manager is a service manager as the probes use it. A name is a launchd
// label ("com.sanctum.mlx") or a systemd unit ("ollama.service").
type Manager interface {
	// Kind is "launchd" or "systemd": events, the status line and
	// council-status name it.
	Kind() Kind
	// Target is the job as the manager's own commands name it
	// ("gui/501/com.sanctum.mlx", "ollama.service"), for messages.
	Target(name string) string
	// CheckName validates a job name before anything is run.
	CheckName(name string) error

	// Status asks the manager about a job: an error wrapping ErrNotLoaded
	// when it does not know it, ErrUnavailable when it cannot be asked.
	Status(ctx context.Context, name string) (*Status, error)
	// BootEnabled reports whether the job starts on its own at boot or
	// login (launchd: not disabled in its override database; systemd:
	// UnitFileState enabled). known is false when the manager keeps no
	// such state for the job (launchd has no override for it).
	BootEnabled(ctx context.Context, name string) (enabled, known bool, err error)
	// DeathCause says how the job's last process ended, as far as the
	// manager can tell, looking no further back than since; st is its
	// Status when the caller has one (nil: it is asked).
	DeathCause(ctx context.Context, name string, st *Status, since time.Time) Cause

	// Restart stops and starts the job and calls verify until it passes
	// or the verify budget is spent (ErrRestartUnverified).
	Restart(ctx context.Context, name string, verify func(context.Context) error) (*Result, error)
	// RestartCommand is the command line Restart runs, for events.
	RestartCommand(name string) string
	// Start starts the job now if it does not run (launchd kickstart,
	// systemd start). It does not wait for the job to serve.
	Start(ctx context.Context, name string) error

	// PromoteFallback switches serving from a primary that can never
	// serve to the fallback, under the remediation lock, recording each
	// step in the fallback lock so that a cut-short promotion is finished
	// by ResumePromotion; RestorePrimary switches back.
	PromoteFallback(ctx context.Context, o PromoteOpts) (*Result, error)
	ResumePromotion(ctx context.Context, o PromoteOpts) (*Result, error)
	RestorePrimary(ctx context.Context, o RestoreOpts) (*Result, error)
}

// LogReader is a manager that keeps its jobs' output (systemd's journal):
// the primary's fatal lines and access lines come from there when it logs
// there.
type LogReader interface {
	// LogTail returns at most maxBytes of the newest output of the job, in
	// whole lines, oldest first.
	LogTail(ctx context.Context, name string, maxBytes int64) ([]byte, error)
}

// Status is a manager's view of one job.
type Status struct {
	Name string
	// State is the manager's own words ("running"; "active/running",
	// "activating/auto-restart", "failed/failed").
	State string
	// PID is the main process; 0 when none runs.
	PID int
	// Active: the manager runs the job or keeps it scheduled (launchd: it
	// is loaded; systemd: ActiveState active, activating or reloading; a
	// timer waiting for its next run is active).
	Active bool
	// Started is when the main process started (zero when unknown).
	Started time.Time
	// Restarts counts the manager's own restarts of the job (launchd's
	// runs, systemd's NRestarts): crash and crash-loop detection compare
	// it between ticks.
	Restarts int
	// LastExit says how the last process ended, as an alert words it
	// ("signal 11 (SIGSEGV)", "exit code 3"); empty when the manager does
	// not say. Abnormal: it ended badly (a signal, a non-zero code).
	LastExit string
	Abnormal bool
	// Failed: the manager gave up on the job (systemd's ActiveState
	// failed). StartLimitHit: it gave up because the job was started too
	// often (start-limit-hit); a restart must clear that first.
	Failed        bool
	StartLimitHit bool
}

// Running reports whether a main process runs.
func (s *Status) Running() bool { return s.PID > 0 }

// Cause is how a job's last process ended, as far as the manager tells.
type Cause struct {
	// Exit is the words of an alert: "signal 11 (SIGSEGV)", "exit code
	// 3", "oom-kill"; empty when unknown.
	Exit string
	// Source says where it was read: "launchd", "systemd" (the unit's
	// properties) or "journal".
	Source string
}

// Empty reports whether nothing is known.
func (c Cause) Empty() bool { return c.Exit == "" }

// PromoteOpts configures PromoteFallback and ResumePromotion.
type PromoteOpts struct {
	Primary  string // stopped and kept from starting at boot
	Fallback string // enabled and started
	// FallbackDefinition is the fallback's plist (launchd needs it to
	// bootstrap the label); systemd finds its units itself.
	FallbackDefinition string

	FallbackLockPath    string // its existence means "on fallback"
	RemediationLockPath string // shared by every probe that changes the manager's state

	Who string // the probe promoting, e.g. "council-guardian"
	Why string // the failure that made the primary unservable

	// Verify reports whether the fallback serves.
	Verify func(context.Context) error
}

// RestoreOpts configures RestorePrimary.
type RestoreOpts struct {
	Primary            string
	PrimaryDefinition  string // launchd: the primary's plist
	Fallback           string
	FallbackDefinition string // launchd: bootstrapped again on rollback

	FallbackLockPath    string
	RemediationLockPath string

	// CheckPrimary must pass before anything changes: the integrity
	// checks of the primary binary.
	CheckPrimary func(context.Context) error
	// Verify reports whether the primary serves; VerifyFallback whether
	// the fallback serves again after a rollback.
	Verify         func(context.Context) error
	VerifyFallback func(context.Context) error
}

// Result lists what a recipe did, in order: each command line (prefixed
// "dry-run: " when only printed) and the other steps (locks, verify). It
// is returned even with an error, up to the failure.
type Result struct {
	Steps          []string
	Verified       bool
	VerifyAttempts int
	// Lock is the fallback lock PromoteFallback wrote (or would write).
	Lock *FallbackLock
	// RolledBack: RestorePrimary failed and put the fallback back, and the
	// fallback verified.
	RolledBack bool
	// ResumedAfter is the step ResumePromotion found recorded in the lock
	// (the remaining steps were run).
	ResumedAfter string
}

// Note appends a step that is not a command. It is not inlined: the
// recipes call it from some twenty places, none of them hot, and each
// inlined copy (an append and a Sprintf) would grow every probe.
//
//go:noinline
func (res *Result) Note(format string, args ...any) {
	res.Steps = append(res.Steps, fmt.Sprintf(format, args...))
}

// Options are what a probe sets on any manager it builds.
type Options struct {
	DryRun bool
	// VerifyTimeout bounds a recipe's verify loop; VerifyInterval is the
	// pause between attempts (zero: the defaults).
	VerifyTimeout  time.Duration
	VerifyInterval time.Duration
}
