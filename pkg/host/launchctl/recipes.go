package launchctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/host/service"
)

// Errors of the recipes, for errors.Is: the ones both service managers
// share are pkg/host/service's.
var (
	ErrUnverified         = service.ErrUnverified
	ErrRestartUnverified  = service.ErrRestartUnverified
	ErrAlreadyOnFallback  = service.ErrAlreadyOnFallback
	ErrPrimaryCheckFailed = service.ErrPrimaryCheckFailed
	ErrRolledBack         = service.ErrRolledBack
	ErrRollbackFailed     = service.ErrRollbackFailed
	ErrNothingToResume    = service.ErrNothingToResume
	ErrLockLabels         = service.ErrLockLabels
	// ErrServiceDisabled: bootstrap kept failing because `launchctl
	// disable` turned the label off; only `launchctl enable` clears it.
	ErrServiceDisabled = errors.New("service disabled in launchd (launchctl enable clears it)")
)

// DefaultBootstrapRetryDelay is the pause between clearing a half-loaded
// label with bootout and retrying bootstrap.
const DefaultBootstrapRetryDelay = time.Second

// Result lists what a recipe did (pkg/host/service's, shared by both
// managers).
type Result = service.Result

// Restart runs `kickstart -k` on label and then calls verify until it
// returns nil or VerifyTimeout passes. An unverified restart returns an
// error wrapping ErrRestartUnverified and verify's last error.
func (r *Runner) Restart(ctx context.Context, label string, verify func(context.Context) error) (*Result, error) {
	res := &Result{}
	if err := ValidateLabel(label); err != nil {
		return res, fmt.Errorf("restart: %w", err)
	}
	if verify == nil {
		return res, fmt.Errorf("restart %s: no verify function", label)
	}
	if err := r.kickstart(ctx, &res.Steps, label, true); err != nil {
		return res, fmt.Errorf("restart %s: %w", label, err)
	}
	if r.DryRun {
		res.Note("dry-run: verify skipped")
		return res, nil
	}
	if err := r.verify(ctx, res, verify); err != nil {
		return res, fmt.Errorf("restart %s: %w: %w", label, ErrRestartUnverified, err)
	}
	return res, nil
}

// Reload re-reads label's plist into launchd: bootout (not loaded is
// fine), bootstrap (on "5: Input/output error" bootout again and retry
// once), then `kickstart -k`. The plist must carry label as its Label.
func (r *Runner) Reload(ctx context.Context, label, plistPath string) (*Result, error) {
	res := &Result{}
	if err := ValidateLabel(label); err != nil {
		return res, fmt.Errorf("reload: %w", err)
	}
	if err := checkPlist(plistPath, label); err != nil {
		return res, fmt.Errorf("reload %s: %w", label, err)
	}
	if err := r.reload(ctx, res, label, plistPath); err != nil {
		return res, fmt.Errorf("reload %s: %w", label, err)
	}
	return res, nil
}

func (r *Runner) reload(ctx context.Context, res *Result, label, plistPath string) error {
	if err := r.bootoutLoaded(ctx, res, label); err != nil {
		return err
	}
	if err := r.bootstrapRecovering(ctx, res, label, plistPath); err != nil {
		return err
	}
	return r.kickstart(ctx, &res.Steps, label, true)
}

// bootoutLoaded boots label out, treating "not loaded" as done.
func (r *Runner) bootoutLoaded(ctx context.Context, res *Result, label string) error {
	err := r.bootout(ctx, &res.Steps, label)
	if err != nil && IsNotLoaded(err) {
		res.Note("bootout %s: not loaded", label)
		return nil
	}
	return err
}

// bootstrapRecovering bootstraps plistPath; launchd's "5: Input/output
// error" usually means the label is still (half) loaded, so boot it out
// and retry once. If it still fails and the label is disabled in launchd's
// override database, say so: bootout cannot clear that.
func (r *Runner) bootstrapRecovering(ctx context.Context, res *Result, label, plistPath string) error {
	err := r.bootstrap(ctx, &res.Steps, plistPath)
	if err == nil || !IsIOError(err) {
		return err
	}
	res.Note("bootstrap %s: input/output error: bootout and retry once", label)
	if err := r.bootoutLoaded(ctx, res, label); err != nil {
		return err
	}
	if err := r.sleep(ctx, r.BootstrapRetryDelay); err != nil {
		return err
	}
	err = r.bootstrap(ctx, &res.Steps, plistPath)
	if err == nil || !IsIOError(err) {
		return err
	}
	if disabled, perr := r.PrintDisabled(ctx); perr == nil && disabled[label] {
		return fmt.Errorf("%w: %w", ErrServiceDisabled, err)
	}
	return err
}

// PromoteOpts configures PromoteFallback: Primary and Fallback are
// labels, FallbackDefinition the fallback's plist (it ships
// Disabled=true).
type PromoteOpts = service.PromoteOpts

// validateSwitch checks what both switches between primary and fallback
// need before anything runs: two valid labels and both lock paths.
func validateSwitch(primary, fallback, fallbackLock, remediationLock string) error {
	if err := ValidateLabel(primary); err != nil {
		return err
	}
	if err := ValidateLabel(fallback); err != nil {
		return err
	}
	if fallbackLock == "" || remediationLock == "" {
		return errors.New("fallback and remediation lock paths are required")
	}
	return nil
}

// PromoteFallback switches serving from a primary that can never serve to
// the fallback: refuse if the fallback lock exists; take the shared
// remediation lock and check again under it (two probes racing promote
// once); write the fallback lock; bootout the primary; disable the primary
// (every plist in ~/Library/LaunchAgents is bootstrapped at login, so
// without this a reboot starts the broken primary beside the fallback and
// the two race for the port); enable the fallback (its plist ships
// Disabled=true); bootstrap it (with the EIO recovery); `kickstart -k` it;
// verify it serves.
//
// The lock records the last step done, rewritten after each one. A
// cancelled ctx (SIGTERM) lets the launchctl step under way finish (bounded
// by StepTimeout) and stops before the next, returning ctx's error: the
// next tick's ResumePromotion runs the rest. The fallback lock stays even
// if a later step fails: the probes then watch the fallback and call for a
// human instead of promoting again. In dry-run the commands are printed, no
// lock is taken or written and verify is skipped.
func (r *Runner) PromoteFallback(ctx context.Context, o PromoteOpts) (*Result, error) {
	if err := checkPromoteOpts(o); err != nil {
		return &Result{}, fmt.Errorf("promote fallback %s: %w", o.Fallback, err)
	}
	return r.promotion(o).Promote(ctx, o)
}

// promotion is the shared promotion skeleton with launchd's steps.
func (r *Runner) promotion(o PromoteOpts) service.Promotion {
	return service.Promotion{
		Timing: r.timing(), DryRun: r.dry(),
		Primary: o.Primary, Fallback: o.Fallback,
		Switch: func(ctx context.Context, res *Result, after string, record func(string) error) error {
			return r.switchToFallback(ctx, res, o.Primary, o.Fallback, o.FallbackDefinition, after, record)
		},
	}
}

// ResumePromotion finishes a promotion that was cut short (a SIGTERM or
// SIGKILL of the promoting probe, a crash, a reboot): under the shared
// remediation lock it reads the fallback lock again and, if its step says
// the promotion did not finish, runs the remaining steps, each safe to
// redo (bootout of a label that is not loaded is fine, disable and enable
// are idempotent, bootstrap of a loaded label gets EIO and the usual
// recovery), recording each in the lock as PromoteFallback does; then
// verifies that the fallback serves. The lock keeps its who, when and why
// and gains resumed_by.
//
// It returns ErrNothingToResume when there is no lock, the lock does not
// parse (counted as a finished promotion, as ever), or another probe
// finished it; ErrLockLabels when the lock names other labels than o.
func (r *Runner) ResumePromotion(ctx context.Context, o PromoteOpts) (*Result, error) {
	if err := checkPromoteOpts(o); err != nil {
		return &Result{}, fmt.Errorf("resume promotion of %s: %w", o.Fallback, err)
	}
	return r.promotion(o).Resume(ctx, o)
}

// checkPromoteOpts is what PromoteFallback and ResumePromotion need before
// anything runs.
func checkPromoteOpts(o PromoteOpts) error {
	if err := validateSwitch(o.Primary, o.Fallback, o.FallbackLockPath, o.RemediationLockPath); err != nil {
		return err
	}
	if o.Verify == nil {
		return errors.New("no verify function")
	}
	return checkPlist(o.FallbackDefinition, o.Fallback)
}

// switchToFallback hands serving from primary to fallback in launchd:
// bootout the primary (not loaded is fine), disable it so the next login
// does not start it, enable the fallback, bootstrap its plist (with the
// EIO recovery) and `kickstart -k` it. PromoteFallback, ResumePromotion
// and the rollback of a failed RestorePrimary share it, so all leave
// launchd in the same state. It runs the steps after the one named after
// (service.RunSteps: each bounded by StepTimeout, never cut short by ctx)
// and calls record (if not nil) after each.
func (r *Runner) switchToFallback(ctx context.Context, res *Result, primary, fallback, fallbackPlist, after string,
	record func(string) error) error {
	steps := []service.Step{
		{Done: StepPrimaryBootedOut, Run: func(ctx context.Context, res *Result) error { return r.bootoutLoaded(ctx, res, primary) }},
		{Done: StepPrimaryDisabled, Run: func(ctx context.Context, res *Result) error { return r.disable(ctx, &res.Steps, primary) }},
		{Done: StepFallbackEnabled, Run: func(ctx context.Context, res *Result) error { return r.enable(ctx, &res.Steps, fallback) }},
		{Done: StepFallbackBootstrapped, Run: func(ctx context.Context, res *Result) error {
			return r.bootstrapRecovering(ctx, res, fallback, fallbackPlist)
		}},
		{Done: StepFallbackStarted, Run: func(ctx context.Context, res *Result) error { return r.kickstart(ctx, &res.Steps, fallback, true) }},
	}
	return service.RunSteps(ctx, res, steps, after, r.StepTimeout, record)
}

// RestoreOpts configures RestorePrimary: Primary and Fallback are
// labels, PrimaryDefinition the primary's plist and FallbackDefinition
// the fallback's, bootstrapped again if the restore is rolled back.
type RestoreOpts = service.RestoreOpts

// RestorePrimary undoes PromoteFallback; an operator runs it by hand once
// the primary is fixed. CheckPrimary must pass; then, under the
// remediation lock: bootout and disable the fallback (so a reboot cannot
// start it), enable the primary (PromoteFallback disabled it), Reload the
// primary, verify it serves, and remove the fallback lock.
//
// If any step after the fallback was booted out fails, the primary not
// serving included, the switch is rolled back under the same lock (bootout
// and disable the primary, enable, bootstrap and `kickstart -k` the
// fallback, VerifyFallback) and the fallback lock is kept: a failed restore
// must not leave nothing serving. The error then wraps ErrRolledBack, or
// ErrRollbackFailed if the rollback failed too, and the cause.
func (r *Runner) RestorePrimary(ctx context.Context, o RestoreOpts) (*Result, error) {
	return service.Restore{
		Timing: r.timing(), DryRun: r.dry(), Primary: o.Primary, Fallback: o.Fallback,
		Check: func() error {
			if err := validateSwitch(o.Primary, o.Fallback, o.FallbackLockPath, o.RemediationLockPath); err != nil {
				return err
			}
			if err := checkPlist(o.PrimaryDefinition, o.Primary); err != nil {
				return err
			}
			// Checked now so that a rollback cannot fail on a bad fallback plist.
			if err := checkPlist(o.FallbackDefinition, o.Fallback); err != nil {
				return fmt.Errorf("fallback (needed to roll back): %w", err)
			}
			return nil
		},
		Switch: func(ctx context.Context, res *Result) error { return r.switchToPrimary(ctx, res, o) },
		Back: func(ctx context.Context, res *Result) error {
			return r.switchToFallback(ctx, res, o.Primary, o.Fallback, o.FallbackDefinition, "", nil)
		},
		BackWords: fmt.Sprintf("bootout and disable %s; enable, bootstrap, kickstart -k %s", o.Primary, o.Fallback),
	}.Run(ctx, o)
}

// switchToPrimary is the forward half of RestorePrimary: bootout and
// disable the fallback, enable the primary (a disabled label's bootstrap
// fails with EIO), reload it.
func (r *Runner) switchToPrimary(ctx context.Context, res *Result, o RestoreOpts) error {
	if err := r.bootoutLoaded(ctx, res, o.Fallback); err != nil {
		return err
	}
	if err := r.disable(ctx, &res.Steps, o.Fallback); err != nil {
		return err
	}
	if err := r.enable(ctx, &res.Steps, o.Primary); err != nil {
		return err
	}
	return r.reload(ctx, res, o.Primary, o.PrimaryDefinition)
}

// timing is the Runner's Timing: its verify budget, lock wait and clock.
func (r *Runner) timing() service.Timing {
	return service.Timing{
		VerifyTimeout: r.VerifyTimeout, VerifyInterval: r.VerifyInterval, LockTimeout: r.LockTimeout,
		Now: r.Now, Sleep: r.Sleep, AcquireLock: r.AcquireLock,
	}
}

// verify calls fn until it returns nil or the VerifyTimeout budget (on the
// Runner's clock) is spent, pausing VerifyInterval between attempts.
func (r *Runner) verify(ctx context.Context, res *Result, fn func(context.Context) error) error {
	return r.timing().Verify(ctx, res, fn)
}

// dry is the Runner's dry run.
func (r *Runner) dry() service.DryRun { return service.DryRun{On: r.DryRun, Out: r.out()} }

func (r *Runner) sleep(ctx context.Context, d time.Duration) error { return r.timing().Pause(ctx, d) }
