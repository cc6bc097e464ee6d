package systemctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/sanctum/council-probes/pkg/host/service"
)

// The steps of a systemd promotion, in order, as recorded in
// FallbackLock.Step: each names the last step that completed.
const (
	// StepPrimaryDisabled: `disable --now` the primary: stopped, and not
	// started at the next boot or login beside the fallback.
	StepPrimaryDisabled = "primary_disabled"
	// StepFallbackEnabled: `enable --now` the fallback (after
	// reset-failed, in case a start limit holds it): started, and started
	// again at boot; verify follows.
	StepFallbackEnabled = "fallback_enabled"
)

// The recipes are systemd's, from systemctl(1), systemd.service(5) and
// systemd.unit(5):
//
//   - restart: `systemctl restart UNIT` ("stop and then start ... if the
//     units are not running yet, they will be started"), then verify. A
//     unit that failed (a start limit included: "use this command to make
//     it startable again") is `reset-failed` first.
//   - promotion: `disable --now` the primary, `enable --now` the fallback,
//     under the remediation lock, each step recorded in the fallback lock so
//     a cut-short promotion is resumed; restore is the reverse.

// timing is the Runner's Timing: its verify budget, lock wait and clock.
func (r *Runner) timing() service.Timing {
	return service.Timing{
		VerifyTimeout: r.VerifyTimeout, VerifyInterval: r.VerifyInterval, LockTimeout: r.LockTimeout,
		Now: r.Now, Sleep: r.Sleep, AcquireLock: r.AcquireLock,
	}
}

func (r *Runner) dry() service.DryRun { return service.DryRun{On: r.DryRun, Out: r.out()} }

// clearFailed runs `reset-failed UNIT` when systemd gave up on it (failed,
// a start limit included): until then a start or restart is refused. A
// unit that did not fail is left alone.
func (r *Runner) clearFailed(ctx context.Context, res *service.Result, name string) error {
	u, err := r.Show(ctx, name)
	if err != nil {
		return err
	}
	if !u.Failed() {
		return nil
	}
	why := "failed (" + u.Result + ")"
	if u.StartLimitHit() {
		why = "failed: start-limit-hit (started too often; refused until reset-failed)"
	}
	res.Note("%s is %s: reset-failed first", UnitName(name), why)
	return r.resetFailed(ctx, &res.Steps, name)
}

// Restart runs `reset-failed` (if the unit failed) and `restart` on the
// unit, then calls verify until it returns nil or VerifyTimeout passes. An
// unverified restart returns an error wrapping ErrRestartUnverified and
// verify's last error; a refused one wraps service.ErrNotPermitted.
func (r *Runner) Restart(ctx context.Context, name string, verify func(context.Context) error) (*service.Result, error) {
	res := &service.Result{}
	if err := ValidateUnit(name); err != nil {
		return res, fmt.Errorf("restart: %w", err)
	}
	if err := r.restartVerified(ctx, res, name, verify); err != nil {
		return res, fmt.Errorf("restart %s: %w", UnitName(name), err)
	}
	return res, nil
}

func (r *Runner) restartVerified(ctx context.Context, res *service.Result, name string, verify func(context.Context) error) error {
	if verify == nil {
		return errors.New("no verify function")
	}
	if err := r.clearFailed(ctx, res, name); err != nil {
		return err
	}
	if err := r.restart(ctx, &res.Steps, name); err != nil {
		return err
	}
	if r.DryRun {
		res.Note("dry-run: verify skipped")
		return nil
	}
	if err := r.timing().Verify(ctx, res, verify); err != nil {
		return fmt.Errorf("%w: %w", service.ErrRestartUnverified, err)
	}
	return nil
}

// RestartCommand is the command line of Restart.
func (r *Runner) RestartCommand(name string) string {
	return r.CommandLine(true, "restart", UnitName(name))
}

// Start runs `systemctl start UNIT` (after reset-failed, if the unit
// failed): the unit runs now if it did not. It does not wait for the unit
// to serve.
func (r *Runner) Start(ctx context.Context, name string) error {
	err := r.clearFailed(ctx, &service.Result{}, name)
	if err == nil {
		err = r.start(ctx, nil, name)
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", UnitName(name), err)
	}
	return nil
}

// checkSwitch checks what both switches between primary and fallback need
// before anything runs: two valid unit names and both lock paths.
func checkSwitch(primary, fallback, fallbackLock, remediationLock string) error {
	if err := ValidateUnit(primary); err != nil {
		return err
	}
	if err := ValidateUnit(fallback); err != nil {
		return err
	}
	if fallbackLock == "" || remediationLock == "" {
		return errors.New("fallback and remediation lock paths are required")
	}
	return nil
}

func checkPromoteOpts(o service.PromoteOpts) error {
	if err := checkSwitch(o.Primary, o.Fallback, o.FallbackLockPath, o.RemediationLockPath); err != nil {
		return err
	}
	if o.Verify == nil {
		return errors.New("no verify function")
	}
	return nil
}

// PromoteFallback switches serving from a primary that can never serve to
// the fallback: refuse if the fallback lock exists; take the shared
// remediation lock and check again under it (two probes racing promote
// once); write the fallback lock; `disable --now` the primary (stopped,
// and not started at the next boot beside the fallback); `reset-failed`
// the fallback if systemd gave up on it and `enable --now` it; verify it
// serves.
//
// The lock records the last step done, rewritten after each one. A
// cancelled ctx (SIGTERM) lets the systemctl step under way finish
// (bounded by StepTimeout) and stops before the next, returning ctx's
// error: the next tick's ResumePromotion runs the rest. The fallback lock
// stays even if a later step fails: the probes then watch the fallback and
// call for a human instead of promoting again. In dry-run the commands are
// printed, no lock is taken or written and verify is skipped.
func (r *Runner) PromoteFallback(ctx context.Context, o service.PromoteOpts) (*service.Result, error) {
	if err := checkPromoteOpts(o); err != nil {
		return &service.Result{}, fmt.Errorf("promote fallback %s: %w", UnitName(o.Fallback), err)
	}
	return r.promotion(o).Promote(ctx, o)
}

// promotion is the shared promotion skeleton with systemd's steps.
func (r *Runner) promotion(o service.PromoteOpts) service.Promotion {
	return service.Promotion{
		Timing: r.timing(), DryRun: r.dry(), Primary: UnitName(o.Primary), Fallback: UnitName(o.Fallback),
		Switch: func(ctx context.Context, res *service.Result, after string, record func(string) error) error {
			return r.switchToFallback(ctx, res, o.Primary, o.Fallback, after, record)
		},
	}
}

// ResumePromotion finishes a promotion that was cut short (a SIGTERM or
// SIGKILL of the promoting probe, a crash, a reboot): under the shared
// remediation lock it reads the fallback lock again and, if its step says
// the promotion did not finish, runs the remaining steps (each safe to
// redo: disable of a disabled, stopped unit and enable of an enabled,
// running one change nothing), recording each; then verifies that the
// fallback serves. The lock keeps its who, when and why and gains
// resumed_by.
//
// It returns ErrNothingToResume when there is no lock, the lock does not
// parse, or another probe finished it; ErrLockLabels when the lock names
// other units than o.
func (r *Runner) ResumePromotion(ctx context.Context, o service.PromoteOpts) (*service.Result, error) {
	if err := checkPromoteOpts(o); err != nil {
		return &service.Result{}, fmt.Errorf("resume promotion of %s: %w", UnitName(o.Fallback), err)
	}
	return r.promotion(o).Resume(ctx, o)
}

// switchToFallback hands serving from primary to fallback: `disable --now`
// the primary (a unit systemd does not know is noted and passed: nothing
// of it can run), `reset-failed` the fallback if systemd gave up on it,
// and `enable --now` it. PromoteFallback, ResumePromotion and the
// rollback of a failed RestorePrimary share it. It runs the steps after
// the one named after (service.RunSteps: each bounded by StepTimeout,
// never cut short by ctx) and calls record (if not nil) after each.
func (r *Runner) switchToFallback(ctx context.Context, res *service.Result, primary, fallback, after string,
	record func(string) error) error {
	steps := []service.Step{
		{Done: StepPrimaryDisabled, Run: func(ctx context.Context, res *service.Result) error {
			err := r.disableNow(ctx, &res.Steps, primary)
			if err != nil && errors.Is(err, service.ErrNotLoaded) {
				res.Note("disable %s: no such unit; nothing of it can start", UnitName(primary))
				return nil
			}
			return err
		}},
		{Done: StepFallbackEnabled, Run: func(ctx context.Context, res *service.Result) error {
			if err := r.clearFailed(ctx, res, fallback); err != nil {
				return err
			}
			return r.enableNow(ctx, &res.Steps, fallback)
		}},
	}
	return service.RunSteps(ctx, res, steps, after, r.StepTimeout, record)
}

// RestorePrimary undoes PromoteFallback; an operator runs it by hand once
// the primary is fixed. CheckPrimary must pass; then, under the
// remediation lock: `disable --now` the fallback, `reset-failed` the
// primary if systemd gave up on it, `enable --now` the primary, verify it
// serves, and remove the fallback lock.
//
// A first step that fails (the fallback could not be stopped: not
// permitted, say) changed nothing and is returned as it is. If any step
// after the fallback was stopped fails, the primary not serving included,
// the switch is rolled back under the same lock (`disable --now` the
// primary, `enable --now` the fallback, VerifyFallback) and the fallback
// lock is kept: a failed restore must not leave nothing serving. The error
// then wraps ErrRolledBack, or ErrRollbackFailed if the rollback failed
// too, and the cause (service.Restore).
func (r *Runner) RestorePrimary(ctx context.Context, o service.RestoreOpts) (*service.Result, error) {
	return service.Restore{
		Timing: r.timing(), DryRun: r.dry(), Primary: UnitName(o.Primary), Fallback: UnitName(o.Fallback),
		Check: func() error { return checkSwitch(o.Primary, o.Fallback, o.FallbackLockPath, o.RemediationLockPath) },
		Stop: func(ctx context.Context, res *service.Result) error {
			return r.disableNow(ctx, &res.Steps, o.Fallback)
		},
		Switch: func(ctx context.Context, res *service.Result) error {
			if err := r.clearFailed(ctx, res, o.Primary); err != nil {
				return err
			}
			return r.enableNow(ctx, &res.Steps, o.Primary)
		},
		Back: func(ctx context.Context, res *service.Result) error {
			return r.switchToFallback(ctx, res, o.Primary, o.Fallback, "", nil)
		},
		BackWords: fmt.Sprintf("disable --now %s; enable --now %s", UnitName(o.Primary), UnitName(o.Fallback)),
	}.Run(ctx, o)
}
