package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Promotion is the part of a promotion both managers share: the fallback
// lock (refused when it exists, checked again under the remediation lock,
// written before anything changes, each step recorded in it), the verify
// and the last step, "done". The manager brings its own steps.
//
// It also resumes a promotion whose lock stops short of "done" (a SIGTERM
// or SIGKILL of the promoting probe, a crash, a reboot): under the
// remediation lock it reads the lock again and runs the steps after the
// one it records, each of which must be safe to redo.
type Promotion struct {
	Timing Timing
	DryRun DryRun
	// Primary and Fallback are the jobs as the lock records them (a
	// launchd label; a systemd unit's full name).
	Primary, Fallback string
	// Switch runs the manager's steps after the one named after (all of
	// them for StepLocked or a name it does not know) and calls record,
	// when it is not nil, after each.
	Switch func(ctx context.Context, res *Result, after string, record func(string) error) error
}

// Promote is PromoteFallback's skeleton for o (validated by the caller).
func (p Promotion) Promote(ctx context.Context, o PromoteOpts) (*Result, error) {
	res := &Result{}
	if err := p.promote(ctx, res, o); err != nil {
		return res, fmt.Errorf("promote fallback %s: %w", p.Fallback, err)
	}
	return res, nil
}

func (p Promotion) promote(ctx context.Context, res *Result, o PromoteOpts) error {
	if onFallback, err := FallbackLockExists(o.FallbackLockPath); err != nil {
		return err
	} else if onFallback {
		return ErrAlreadyOnFallback
	}
	fl := &FallbackLock{
		Who: o.Who, When: p.Timing.Clock().UTC().Truncate(time.Second), Why: o.Why, PID: os.Getpid(),
		Primary: p.Primary, Fallback: p.Fallback, Step: StepLocked,
	}
	res.Lock = fl
	var record func(string) error
	if p.DryRun.On {
		data, err := json.Marshal(fl)
		if err != nil {
			return err
		}
		p.DryRun.Note(res, "take remediation lock %s", o.RemediationLockPath)
		p.DryRun.Note(res, "write fallback lock %s %s", o.FallbackLockPath, data)
	} else {
		lk, err := p.Timing.Acquire(ctx, o.RemediationLockPath)
		if err != nil {
			return err
		}
		defer lk.Release()
		res.Note("took remediation lock %s", o.RemediationLockPath)
		// Another probe may have promoted while we waited for the lock.
		if onFallback, err := FallbackLockExists(o.FallbackLockPath); err != nil {
			return err
		} else if onFallback {
			return ErrAlreadyOnFallback
		}
		if err := WriteFallbackLock(o.FallbackLockPath, fl); err != nil {
			return err
		}
		res.Note("wrote fallback lock %s", o.FallbackLockPath)
		record = StepRecorder(res, o.FallbackLockPath, fl)
	}
	return p.finish(ctx, res, o, StepLocked, record)
}

// Resume is ResumePromotion's skeleton for o (validated by the caller).
// It returns ErrNothingToResume when there is no lock, the lock does not
// parse (counted as a finished promotion), or another probe finished it;
// ErrLockLabels when the lock names other jobs than the Promotion's.
func (p Promotion) Resume(ctx context.Context, o PromoteOpts) (*Result, error) {
	res := &Result{}
	if err := p.resume(ctx, res, o); err != nil {
		return res, fmt.Errorf("resume promotion of %s: %w", p.Fallback, err)
	}
	return res, nil
}

func (p Promotion) resume(ctx context.Context, res *Result, o PromoteOpts) error {
	read := func() (*FallbackLock, error) {
		fl, err := ReadFallbackLock(o.FallbackLockPath)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist):
			return nil, ErrNothingToResume
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrNothingToResume, err)
		case fl.Done():
			return nil, ErrNothingToResume
		case fl.Primary != "" && fl.Primary != p.Primary, fl.Fallback != "" && fl.Fallback != p.Fallback:
			return nil, fmt.Errorf("%w: %s -> %s, configured %s -> %s", ErrLockLabels, fl.Primary, fl.Fallback, p.Primary, p.Fallback)
		}
		return fl, nil
	}
	if _, err := read(); err != nil {
		return err
	}
	release, err := p.Timing.LockRemediation(ctx, p.DryRun, res, o.RemediationLockPath)
	if err != nil {
		return err
	}
	defer release()
	// Read again under the lock: another probe may have finished it.
	fl, err := read()
	if err != nil {
		return err
	}
	res.Lock, res.ResumedAfter = fl, fl.Step
	res.Note("resuming the promotion %s started at %s after step %q", fl.Who, fl.When.UTC().Format(time.RFC3339), fl.Step)
	var record func(string) error
	if !p.DryRun.On {
		fl.ResumedBy = o.Who
		record = StepRecorder(res, o.FallbackLockPath, fl)
	}
	return p.finish(ctx, res, o, fl.Step, record)
}

// finish runs the steps after the one named after, then verifies, and
// records the promotion done unless a signal cut the verify short (the
// next tick then verifies and alerts). A verify that fails on its own also
// ends the promotion: the probes watch the fallback from there.
func (p Promotion) finish(ctx context.Context, res *Result, o PromoteOpts, after string, record func(string) error) error {
	if err := p.Switch(ctx, res, after, record); err != nil {
		return err
	}
	if p.DryRun.On {
		res.Note("dry-run: verify skipped")
		return nil
	}
	verr := p.Timing.Verify(ctx, res, o.Verify)
	if verr != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrUnverified, verr)
	}
	if record != nil {
		if err := record(StepDone); err != nil {
			return err
		}
	}
	if verr != nil {
		return fmt.Errorf("%w: %w", ErrUnverified, verr)
	}
	return nil
}

// Step is one step of a switch between primary and fallback, named as
// the fallback lock records it once done.
type Step struct {
	Done string
	Run  func(ctx context.Context, res *Result) error
}

// RunSteps runs the steps after the one named after ("" or StepLocked:
// all; a name not among them: all, since each is safe to redo) and calls
// record (if not nil) after each. Each step gets a context that ctx's
// cancellation does not reach, bounded by timeout, so a signal never kills
// the manager's command halfway; a cancelled ctx stops the switch before
// the next step.
func RunSteps(ctx context.Context, res *Result, steps []Step, after string, timeout time.Duration, record func(string) error) error {
	for i, st := range steps {
		if st.Done == after {
			steps = steps[i+1:]
			break
		}
	}
	if timeout <= 0 {
		timeout = DefaultStepTimeout
	}
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			res.Note("stopped before the step after %s: %v", after, err)
			return fmt.Errorf("stopped after step %q: %w", after, err)
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		err := st.Run(sctx, res)
		cancel()
		if err != nil {
			return err
		}
		after = st.Done
		if record != nil {
			if err := record(st.Done); err != nil {
				return err
			}
		}
	}
	return nil
}
