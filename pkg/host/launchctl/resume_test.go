package launchctl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/service"
)

// promotionCalls are the promotion's launchctl steps as the fake logs them
// (the fallback is loaded at login, so its bootstrap takes the EIO
// recovery), each with the step the lock records once it is done.
func promotionCalls(plist string) []struct {
	step  string
	calls []string
} {
	return []struct {
		step  string
		calls []string
	}{
		{StepPrimaryBootedOut, []string{"bootout gui/501/" + primary}},
		{StepPrimaryDisabled, []string{"disable gui/501/" + primary}},
		{StepFallbackEnabled, []string{"enable gui/501/" + fallback}},
		{StepFallbackBootstrapped, []string{"bootstrap gui/501 " + plist, "bootout gui/501/" + fallback, "bootstrap gui/501 " + plist}},
		{StepFallbackStarted, []string{"kickstart -k gui/501/" + fallback}},
	}
}

// A promotion cut short between any two steps is finished by the next
// tick's ResumePromotion, whether the signal let the step under way finish
// and record itself (SIGTERM) or the process died after launchctl ran but
// before the lock said so (SIGKILL): every step is safe to redo.
func TestPromoteFallbackInterruptedIsResumed(t *testing.T) {
	for n := 1; n <= 5; n++ {
		for _, kill := range []bool{false, true} {
			steps := promotionCalls("PLIST")
			name := "SIGTERM during " + steps[n-1].step
			if kill {
				name = "SIGKILL after " + steps[n-1].step + " ran, before it was recorded"
			}
			t.Run(name, func(t *testing.T) {
				testInterruptedPromotion(t, n, kill)
			})
		}
	}
}

func testInterruptedPromotion(t *testing.T, n int, kill bool) {
	f := newFake(t)
	r := f.runner()
	_, fb, opts := promoteSetup(t, f, r, true)
	steps := promotionCalls(fb.plist)
	first := steps[n-1].calls[0]

	// The signal arrives while launchctl runs step n: the step must not
	// be killed (its context is not the tick's), it finishes, is
	// recorded, and the promotion stops there.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exec := r.Exec
	r.Exec = func(sctx context.Context, path string, args []string) ([]byte, int, error) {
		if strings.Join(args, " ") == first {
			cancel()
		}
		return exec(sctx, path, args)
	}
	res, err := r.PromoteFallback(ctx, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("promotion cut short by a signal: %v\nsteps %q", err, res.Steps)
	}
	var want []string
	for _, s := range steps[:n] {
		want = append(want, s.calls...)
	}
	if got := f.calls(); !slices.Equal(got, want) {
		t.Fatalf("before the signal the steps ran as\n  %q\nwant (the step under way finished, nothing after it)\n  %q", got, want)
	}
	fl, err := ReadFallbackLock(opts.FallbackLockPath)
	if err != nil {
		t.Fatal(err)
	}
	if fl.Step != steps[n-1].step {
		t.Fatalf("lock records step %q, want %q", fl.Step, steps[n-1].step)
	}
	resumeFrom := n
	if kill {
		// SIGKILL after launchctl ran but before the lock was rewritten.
		fl.Step = StepLocked
		if n > 1 {
			fl.Step = steps[n-2].step
		}
		if err := service.WriteFallbackLock(opts.FallbackLockPath, fl); err != nil {
			t.Fatal(err)
		}
		resumeFrom = n - 1
	}
	// The next tick (another process: a fresh Runner) finishes it; after
	// a SIGTERM during the kickstart only the verify is left.
	opts.Who = "council-integrity"
	res, err = f.runner().ResumePromotion(context.Background(), opts)
	if err != nil {
		t.Fatalf("resume: %v\nsteps %q", err, res.Steps)
	}
	if !res.Verified {
		t.Error("resumed promotion not verified")
	}
	want = nil
	for _, s := range steps[resumeFrom:] {
		want = append(want, s.calls...)
	}
	if n == 4 && kill {
		// The bootstrap redone: the fallback is loaded now, so EIO,
		// bootout, bootstrap again.
		want = append([]string{"bootstrap gui/501 " + fb.plist, "bootout gui/501/" + fallback, "bootstrap gui/501 " + fb.plist}, want[3:]...)
	}
	f.wantCalls(want...)

	fl, err = ReadFallbackLock(opts.FallbackLockPath)
	if err != nil {
		t.Fatal(err)
	}
	if !fl.Done() || fl.Step != StepDone || fl.Who != "council-guardian" || fl.ResumedBy != "council-integrity" {
		t.Errorf("lock after the resume: %+v", fl)
	}
	ctx = context.Background()
	if _, err := r.Print(ctx, primary); !IsNotLoaded(err) {
		t.Errorf("primary still loaded: %v", err)
	}
	disabled, err := r.PrintDisabled(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !disabled[primary] || disabled[fallback] {
		t.Errorf("override database after the resume: %v", disabled)
	}
	waitFor(t, "the fallback to serve", func() bool { _, _, err := fb.get(ctx); return err == nil })
	if got := f.running(); !slices.Equal(got, []string{fallback}) {
		t.Errorf("%q run, want only the fallback", got)
	}
	// And it survives a reboot like an uninterrupted promotion.
	f.reboot(r)
	if got := f.running(); !slices.Equal(got, []string{fallback}) {
		t.Errorf("after a reboot %q run, want only the fallback", got)
	}
}

// Killed right after the lock was written: nothing in launchd changed yet,
// and the resume runs every step.
func TestResumePromotionFromLockedOnly(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	_, fb, opts := promoteSetup(t, f, r, true)
	if err := os.MkdirAll(filepath.Dir(opts.FallbackLockPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := service.WriteFallbackLock(opts.FallbackLockPath, &FallbackLock{Who: "council-guardian", Why: "x", Primary: primary, Fallback: fallback, Step: StepLocked}); err != nil {
		t.Fatal(err)
	}
	res, err := r.ResumePromotion(context.Background(), opts)
	if err != nil || !res.Verified || res.ResumedAfter != StepLocked {
		t.Fatalf("resume: %v %+v", err, res)
	}
	var want []string
	for _, s := range promotionCalls(fb.plist) {
		want = append(want, s.calls...)
	}
	f.wantCalls(want...)
}

// Locks written before steps were recorded, or that do not parse, are
// finished promotions: today's behaviour, nothing is run. A lock naming
// other labels is not resumed on a guess.
func TestResumePromotionRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, lock string
		want       error
	}{
		{"no lock", "", ErrNothingToResume},
		{"old lock without a step", `{"who":"council-guardian","when":"2026-01-01T00:00:00Z","why":"x","pid":1}`, ErrNothingToResume},
		{"finished", `{"who":"council-guardian","step":"done"}`, ErrNothingToResume},
		{"unparseable", `{"who":`, ErrNothingToResume},
		{"other labels", `{"who":"council-guardian","primary":"com.other.mlx","fallback":"` + fallback + `","step":"primary_disabled"}`, ErrLockLabels},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			r := f.runner()
			_, _, opts := promoteSetup(t, f, r, true)
			if tc.lock != "" {
				if err := os.MkdirAll(filepath.Dir(opts.FallbackLockPath), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(opts.FallbackLockPath, []byte(tc.lock), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := r.ResumePromotion(context.Background(), opts); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			f.wantCalls()
			if tc.lock != "" {
				if b, _ := os.ReadFile(opts.FallbackLockPath); string(b) != tc.lock {
					t.Errorf("lock rewritten: %s", b)
				}
			}
		})
	}
}

// A fallback that does not serve ends the promotion all the same (the
// probes' watch of the fallback calls for a human from there): the lock is
// done, so later ticks do not redo the switch every time.
func TestPromoteFallbackUnverifiedIsDone(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	r.VerifyTimeout = 200 * time.Millisecond
	_, _, opts := promoteSetup(t, f, r, false)
	opts.Verify = func(context.Context) error { return errors.New("connection refused") }
	if _, err := r.PromoteFallback(context.Background(), opts); !errors.Is(err, ErrUnverified) {
		t.Fatalf("got %v, want ErrUnverified", err)
	}
	if fl, err := ReadFallbackLock(opts.FallbackLockPath); err != nil || fl.Step != StepDone {
		t.Fatalf("lock %+v %v, want step done", fl, err)
	}
	f.calls()
	if _, err := f.runner().ResumePromotion(context.Background(), opts); !errors.Is(err, ErrNothingToResume) {
		t.Fatalf("resume after an unverified promotion: %v", err)
	}
	f.wantCalls()
}
