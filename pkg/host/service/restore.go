package service

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Restore is the part of a restore both managers share: the options and
// the primary check before anything changes, the remediation lock, the
// verify, the rollback to the fallback when the primary does not take
// over (under the same lock, its steps run even if ctx was canceled, the
// fallback verified, the fallback lock kept), and the removal of the
// fallback lock. The manager brings its own steps.
type Restore struct {
	Timing Timing
	DryRun DryRun
	// Primary and Fallback name the jobs in messages.
	Primary, Fallback string
	// Check validates the manager's options before anything else.
	Check func() error
	// Stop, when not nil, is the first step: when it is refused nothing
	// changed, and the restore fails without a rollback.
	Stop func(ctx context.Context, res *Result) error
	// Switch runs the steps that hand over to the primary; Back the
	// steps that hand back to the fallback. BackWords are Back's steps
	// for the dry run ("disable --now P; enable --now F").
	Switch, Back func(ctx context.Context, res *Result) error
	BackWords    string
}

// Run is RestorePrimary's skeleton for o. The error wraps
// ErrPrimaryCheckFailed, ErrRolledBack or ErrRollbackFailed (and the
// cause) as RestorePrimary documents.
func (p Restore) Run(ctx context.Context, o RestoreOpts) (*Result, error) {
	res := &Result{}
	if err := p.run(ctx, res, o); err != nil {
		return res, fmt.Errorf("restore primary %s: %w", p.Primary, err)
	}
	return res, nil
}

func (p Restore) run(ctx context.Context, res *Result, o RestoreOpts) error {
	if err := p.Check(); err != nil {
		return err
	}
	if o.CheckPrimary == nil || o.Verify == nil || o.VerifyFallback == nil {
		return errors.New("primary check, verify and fallback verify functions are required")
	}
	if err := o.CheckPrimary(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrPrimaryCheckFailed, err)
	}
	res.Note("primary check passed")
	release, err := p.Timing.LockRemediation(ctx, p.DryRun, res, o.RemediationLockPath)
	if err != nil {
		return err
	}
	defer release()
	if p.Stop != nil {
		if err := p.Stop(ctx, res); err != nil {
			return err
		}
	}
	err = p.Switch(ctx, res)
	if p.DryRun.On && err == nil {
		res.Note("dry-run: verify skipped")
		p.DryRun.Note(res, "if %s does not serve: roll back to %s (%s; verify), keep the fallback lock", p.Primary, p.Fallback, p.BackWords)
		p.DryRun.Note(res, "remove fallback lock %s", o.FallbackLockPath)
		return nil
	}
	if err == nil {
		if err = p.Timing.Verify(ctx, res, o.Verify); err != nil {
			err = fmt.Errorf("%w: %w", ErrUnverified, err)
		}
	}
	if err != nil {
		if rbErr := p.rollback(ctx, res, o, err); rbErr != nil {
			return fmt.Errorf("%w: %w; rollback: %w", ErrRollbackFailed, err, rbErr)
		}
		return fmt.Errorf("%w: %w", ErrRolledBack, err)
	}
	if err := os.Remove(o.FallbackLockPath); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove fallback lock: %w", err)
	}
	res.Note("removed fallback lock %s", o.FallbackLockPath)
	return nil
}

// rollback puts the fallback back after a failed switch to the primary
// (cause). Its steps run even if ctx was canceled (an operator's Ctrl-C
// must not leave nothing serving); verifying the fallback honours ctx.
// Verified and VerifyAttempts describe the primary; the fallback's verify
// is told in the steps.
func (p Restore) rollback(ctx context.Context, res *Result, o RestoreOpts, cause error) error {
	res.Note("rollback: %s did not take over (%v); switching back to %s", p.Primary, cause, p.Fallback)
	if err := p.Back(context.WithoutCancel(ctx), res); err != nil {
		return err
	}
	fres := &Result{}
	err := p.Timing.Verify(ctx, fres, o.VerifyFallback)
	for _, step := range fres.Steps {
		res.Note("rollback: fallback %s", step)
	}
	if err != nil {
		return fmt.Errorf("fallback %s: %w: %w", p.Fallback, ErrUnverified, err)
	}
	res.RolledBack = true
	return nil
}
