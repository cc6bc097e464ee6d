package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/sanctum/council-probes/pkg/core/lock"
)

// Defaults of a recipe's timing, shared by both managers.
const (
	// DefaultVerifyTimeout is how long a restart or promotion may take to
	// serve again: the stop of the old process, the new one's start (the
	// primary spends about 80 s verifying and loading its weights) and a
	// margin. It is launchd's (launchctl.DefaultVerifyTimeout: a stop
	// waits up to 20 s); systemd's stop waits up to TimeoutStopSec, 90 s
	// by default, so under systemd raise --verify-timeout to about 3 min
	// or lower the unit's stop timeout.
	DefaultVerifyTimeout  = 2 * time.Minute
	DefaultVerifyInterval = 2 * time.Second
	// DefaultLockTimeout outlasts another remediation's verify loop: the
	// holder of the shared lock restarts and verifies (at most
	// DefaultVerifyTimeout), and a promotion waiting behind it must not
	// give up and alert while a restart is merely being verified.
	DefaultLockTimeout = DefaultVerifyTimeout + 30*time.Second
	// DefaultStepTimeout bounds one step of a switch between primary and
	// fallback; a manager's command answers in well under a second.
	DefaultStepTimeout = 15 * time.Second
)

// Timing is how a recipe waits: its verify budget and pause, the wait for
// the remediation lock, and the side effects behind them (clock, sleep,
// lock), which tests replace. The zero Timing uses the defaults.
type Timing struct {
	VerifyTimeout  time.Duration
	VerifyInterval time.Duration
	LockTimeout    time.Duration
	Now            func() time.Time
	Sleep          func(ctx context.Context, d time.Duration) error
	AcquireLock    func(ctx context.Context, path string) (*lock.Lock, error)
}

// Clock returns the time on the Timing's clock.
func (tm Timing) Clock() time.Time {
	if tm.Now == nil {
		return time.Now()
	}
	return tm.Now()
}

// Pause sleeps d on the Timing's sleep, or until ctx is done.
func (tm Timing) Pause(ctx context.Context, d time.Duration) error {
	if tm.Sleep == nil {
		return SleepContext(ctx, d)
	}
	return tm.Sleep(ctx, d)
}

// Verify calls fn until it returns nil or the VerifyTimeout budget (on the
// Timing's clock) is spent, pausing VerifyInterval between attempts, and
// notes the outcome in res.
func (tm Timing) Verify(ctx context.Context, res *Result, fn func(context.Context) error) error {
	timeout, interval := tm.VerifyTimeout, tm.VerifyInterval
	if timeout <= 0 {
		timeout = DefaultVerifyTimeout
	}
	if interval <= 0 {
		interval = DefaultVerifyInterval
	}
	deadline := tm.Clock().Add(timeout)
	for attempt := 1; ; attempt++ {
		remaining := deadline.Sub(tm.Clock())
		actx, cancel := context.WithTimeout(ctx, max(remaining, interval))
		err := fn(actx)
		cancel()
		res.VerifyAttempts = attempt
		if err == nil {
			res.Verified = true
			res.Note("verify: ok after %d attempt(s)", attempt)
			return nil
		}
		if ctx.Err() != nil {
			res.Note("verify: canceled after %d attempt(s)", attempt)
			return fmt.Errorf("verify canceled after %d attempt(s): %w (%w)", attempt, err, ctx.Err())
		}
		remaining = deadline.Sub(tm.Clock())
		if remaining <= 0 {
			res.Note("verify: failed %d attempt(s) in %s", attempt, timeout)
			return fmt.Errorf("%d attempt(s) in %s: %w", attempt, timeout, err)
		}
		if err := tm.Pause(ctx, min(interval, remaining)); err != nil {
			return fmt.Errorf("verify canceled after %d attempt(s): %w", attempt, err)
		}
	}
}

// Acquire takes the shared remediation lock at path, waiting at most
// LockTimeout.
func (tm Timing) Acquire(ctx context.Context, path string) (*lock.Lock, error) {
	timeout := tm.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	acquire := tm.AcquireLock
	if acquire == nil {
		acquire = lock.Acquire
	}
	return acquire(lctx, path)
}

// DryRun prints what a recipe would do (commands, locks, notes) instead of
// doing it.
type DryRun struct {
	On  bool
	Out io.Writer // nil: stdout
}

// Note prints "dry-run: <what>" and records it in res.
func (d DryRun) Note(res *Result, format string, args ...any) {
	line := "dry-run: " + fmt.Sprintf(format, args...)
	out := d.Out
	if out == nil {
		out = os.Stdout
	}
	fmt.Fprintln(out, line)
	res.Steps = append(res.Steps, line)
}

// LockRemediation takes the shared remediation lock and returns its
// release; a dry run only notes that it would, and releases nothing.
func (tm Timing) LockRemediation(ctx context.Context, dry DryRun, res *Result, path string) (release func(), err error) {
	if dry.On {
		dry.Note(res, "take remediation lock %s", path)
		return func() {}, nil
	}
	lk, err := tm.Acquire(ctx, path)
	if err != nil {
		return nil, err
	}
	res.Note("took remediation lock %s", path)
	return func() { lk.Release() }, nil
}

// StepRecorder returns the function that records a finished step of a
// promotion in the fallback lock at path. A step that cannot be recorded
// is not a reason to stop a switch half done (a resumed promotion merely
// redoes it), except the last: a lock left short of "done" would make
// every later tick redo the switch.
func StepRecorder(res *Result, path string, fl *FallbackLock) func(string) error {
	return func(step string) error {
		fl.Step = step
		err := WriteFallbackLock(path, fl)
		switch {
		case err == nil:
			return nil
		case step == StepDone:
			return fmt.Errorf("record the finished promotion: %w", err)
		}
		res.Note("could not record step %s in the fallback lock (%v); a resumed promotion redoes it", step, err)
		return nil
	}
}

// ExecCommand runs path with args by os/exec, no shell, and returns the
// combined output and the exit code; err is non-nil only when the command
// could not run or ctx ended.
func ExecCommand(ctx context.Context, path string, args []string) ([]byte, int, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	// The managers' commands never leave children holding our pipes, but
	// a broken fake might; do not wait forever for them.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err == nil {
		return out, 0, nil
	}
	if ctx.Err() != nil {
		return out, -1, ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return out, ee.ExitCode(), nil
	}
	return out, -1, err
}

// SleepContext sleeps for d or until ctx is done.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ExitCode is the exit status of the manager's command in err: 0 when err
// is nil or only a verify failed (the command succeeded), -1 when no
// command ran to an exit status.
func ExitCode(err error) int {
	var coded interface{ ExitCode() int }
	switch {
	case err == nil, errors.Is(err, ErrUnverified):
		return 0
	case errors.As(err, &coded):
		return coded.ExitCode()
	}
	return -1
}

// IsMissingCommand reports whether err is a command that could not be run
// because it does not exist (not found on PATH, no such file).
func IsMissingCommand(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist)
}
