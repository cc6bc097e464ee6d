package launchctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/lock"
)

const (
	primary  = "com.sanctum.mlx"
	fallback = "com.sanctum.server-mlx"
)

func TestRestart(t *testing.T) {
	ctx := context.Background()
	t.Run("verified: a new process serves", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: primary, runAtLoad: boolp(true), keepAlive: true})
		if err := r.Bootstrap(ctx, a.plist); err != nil {
			t.Fatal(err)
		}
		before, err := r.Print(ctx, primary)
		if err != nil {
			t.Fatal(err)
		}
		f.calls()
		res, err := r.Restart(ctx, primary, a.serving(before.PID))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Verified || res.VerifyAttempts < 1 {
			t.Errorf("result %+v", res)
		}
		f.wantCalls("kickstart -k gui/501/" + primary)
		after, err := r.Print(ctx, primary)
		if err != nil {
			t.Fatal(err)
		}
		if !after.Running() || after.PID == before.PID || processAlive(before.PID) {
			t.Errorf("pid %d -> %d (old alive %v)", before.PID, after.PID, processAlive(before.PID))
		}
	})
	t.Run("unverified: launchctl exits 0 but nothing serves", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: primary, runAtLoad: boolp(false)})
		if err := r.Bootstrap(ctx, a.plist); err != nil {
			t.Fatal(err)
		}
		// A fake clock makes the budget exact: attempts at 0,2,4,6,8,10 s.
		now := time.Unix(1_700_000_000, 0)
		r.Now = func() time.Time { return now }
		r.Sleep = func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }
		r.VerifyTimeout, r.VerifyInterval = 10*time.Second, 2*time.Second
		down := errors.New("connection refused")
		res, err := r.Restart(ctx, primary, func(context.Context) error { return down })
		if !errors.Is(err, ErrRestartUnverified) || !errors.Is(err, ErrUnverified) || !errors.Is(err, down) {
			t.Fatalf("got %v", err)
		}
		if res.Verified || res.VerifyAttempts != 6 {
			t.Errorf("verified=%v attempts=%d, want 6", res.Verified, res.VerifyAttempts)
		}
	})
	t.Run("kickstart failure is returned as such", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		_, err := r.Restart(ctx, primary, func(context.Context) error { return nil })
		if !IsNotLoaded(err) || errors.Is(err, ErrUnverified) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestReload(t *testing.T) {
	ctx := context.Background()
	svc := "gui/501/" + primary
	t.Run("loaded label: bootout, bootstrap, kickstart", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: primary, runAtLoad: boolp(true)})
		if err := r.Bootstrap(ctx, a.plist); err != nil {
			t.Fatal(err)
		}
		f.calls()
		if _, err := r.Reload(ctx, primary, a.plist); err != nil {
			t.Fatal(err)
		}
		f.wantCalls("bootout "+svc, "bootstrap gui/501 "+a.plist, "kickstart -k "+svc)
		if info, err := r.Print(ctx, primary); err != nil || !info.Running() {
			t.Errorf("not running after reload: %+v %v", info, err)
		}
	})
	t.Run("not loaded is fine", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: primary, runAtLoad: boolp(false)})
		res, err := r.Reload(ctx, primary, a.plist)
		if err != nil {
			t.Fatal(err)
		}
		f.wantCalls("bootout "+svc, "bootstrap gui/501 "+a.plist, "kickstart -k "+svc)
		if !strings.Contains(strings.Join(res.Steps, "\n"), "not loaded") {
			t.Errorf("steps do not say the label was not loaded: %q", res.Steps)
		}
	})
	t.Run("EIO once: bootout and retry succeeds", func(t *testing.T) {
		f := newFake(t)
		f.fail = "bootstrap=eio-once"
		r := f.runner()
		a := f.writeAgent(&agent{label: primary, runAtLoad: boolp(false)})
		if _, err := r.Reload(ctx, primary, a.plist); err != nil {
			t.Fatal(err)
		}
		f.wantCalls("bootout "+svc, "bootstrap gui/501 "+a.plist, "bootout "+svc, "bootstrap gui/501 "+a.plist, "kickstart -k "+svc)
	})
	t.Run("EIO twice is an error", func(t *testing.T) {
		f := newFake(t)
		f.fail = "bootstrap=eio"
		r := f.runner()
		a := f.writeAgent(&agent{label: primary})
		_, err := r.Reload(ctx, primary, a.plist)
		if !IsIOError(err) || errors.Is(err, ErrServiceDisabled) {
			t.Fatalf("got %v", err)
		}
		f.wantCalls("bootout "+svc, "bootstrap gui/501 "+a.plist, "bootout "+svc, "bootstrap gui/501 "+a.plist, "print-disabled gui/501")
	})
	t.Run("a disabled label says so", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: primary})
		if err := r.Disable(ctx, primary); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Reload(ctx, primary, a.plist); !errors.Is(err, ErrServiceDisabled) || !IsIOError(err) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a plist of another label is refused before anything runs", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: fallback})
		if _, err := r.Reload(ctx, primary, a.plist); !errors.Is(err, ErrLabelMismatch) {
			t.Fatalf("got %v", err)
		}
		f.wantCalls()
	})
}

// promoteSetup is incident I5's world: the primary runs, the fallback plist
// ships RunAtLoad=false + Disabled=true + KeepAlive.
func promoteSetup(t *testing.T, f *fakeLaunchd, r *Runner, fallbackLoaded bool) (p, fb *agent, opts PromoteOpts) {
	t.Helper()
	ctx := context.Background()
	p = f.writeAgent(&agent{label: primary, runAtLoad: boolp(true), keepAlive: true})
	fb = f.writeAgent(&agent{label: fallback, runAtLoad: boolp(false), keepAlive: true, disabled: true})
	if err := r.Bootstrap(ctx, p.plist); err != nil {
		t.Fatal(err)
	}
	if fallbackLoaded { // bootstrapped at login, as every plist in LaunchAgents is
		if err := r.Bootstrap(ctx, fb.plist); err != nil {
			t.Fatal(err)
		}
	}
	f.calls()
	state := filepath.Join(f.dir, "state")
	return p, fb, PromoteOpts{
		Primary: primary, Fallback: fallback, FallbackDefinition: fb.plist,
		FallbackLockPath:    filepath.Join(state, "council-fallback.lock"),
		RemediationLockPath: filepath.Join(state, "remediation.lock"),
		Who:                 "council-guardian", Why: "Failed to load the default metallib",
		Verify: fb.serving(0),
	}
}

func TestPromoteFallback(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name           string
		fallbackLoaded bool
		want           []string
	}{
		{"fallback not loaded", false, []string{
			"bootout gui/501/" + primary,
			"disable gui/501/" + primary,
			"enable gui/501/" + fallback,
			"bootstrap gui/501 PLIST",
			"kickstart -k gui/501/" + fallback,
		}},
		{"fallback loaded at login: EIO recovery", true, []string{
			"bootout gui/501/" + primary,
			"disable gui/501/" + primary,
			"enable gui/501/" + fallback,
			"bootstrap gui/501 PLIST",
			"bootout gui/501/" + fallback,
			"bootstrap gui/501 PLIST",
			"kickstart -k gui/501/" + fallback,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			r := f.runner()
			p, fb, opts := promoteSetup(t, f, r, tc.fallbackLoaded)
			oldPrimary, err := r.Print(ctx, primary)
			if err != nil {
				t.Fatal(err)
			}
			f.calls()
			start := time.Now().UTC().Truncate(time.Second)
			res, err := r.PromoteFallback(ctx, opts)
			if err != nil {
				t.Fatalf("%v\nsteps: %q", err, res.Steps)
			}
			want := strings.Split(strings.ReplaceAll(strings.Join(tc.want, "\n"), "PLIST", fb.plist), "\n")
			f.wantCalls(want...)
			if !res.Verified {
				t.Error("not verified")
			}
			// The lock: JSON with who, when, why, pid.
			raw, err := os.ReadFile(opts.FallbackLockPath)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("lock is not JSON: %q", raw)
			}
			for _, k := range []string{"who", "when", "why", "pid"} {
				if _, ok := m[k]; !ok {
					t.Errorf("lock has no %q: %s", k, raw)
				}
			}
			fl, err := ReadFallbackLock(opts.FallbackLockPath)
			if err != nil {
				t.Fatal(err)
			}
			if fl.Who != opts.Who || fl.Why != opts.Why || fl.PID != os.Getpid() || fl.When.Before(start) || fl.Fallback != fallback || fl.Step != StepDone {
				t.Errorf("lock %+v", fl)
			}
			if st, err := os.Stat(opts.FallbackLockPath); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("lock mode %v %v", st.Mode(), err)
			}
			// The primary is gone, the fallback serves.
			if _, err := r.Print(ctx, primary); !IsNotLoaded(err) {
				t.Errorf("primary still loaded: %v", err)
			}
			if processAlive(oldPrimary.PID) {
				t.Error("primary process still running")
			}
			if _, _, err := fb.get(ctx); err != nil {
				t.Errorf("fallback not serving: %v", err)
			}
			// launchd's override database: the primary off (so the next
			// login does not start it), the fallback on.
			disabled, err := r.PrintDisabled(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if on, ok := disabled[primary]; !ok || !on {
				t.Errorf("primary not disabled in launchd after promotion: %v", disabled)
			}
			if off, ok := disabled[fallback]; !ok || off {
				t.Errorf("fallback not enabled in launchd after promotion: %v", disabled)
			}
			_ = p

			// Never fall back from the fallback.
			f.calls()
			if _, err := r.PromoteFallback(ctx, opts); !errors.Is(err, ErrAlreadyOnFallback) {
				t.Fatalf("second promotion: %v", err)
			}
			f.wantCalls()
		})
	}
}

// The winner of a race writes the lock while the loser waits for the
// remediation lock: the loser must look again under the lock and stop.
func TestPromoteFallbackRechecksUnderLock(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	_, _, opts := promoteSetup(t, f, r, false)
	r.AcquireLock = func(ctx context.Context, path string) (*lock.Lock, error) {
		if err := os.MkdirAll(filepath.Dir(opts.FallbackLockPath), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(opts.FallbackLockPath, []byte(`{"who":"council-integrity"}`), 0o600); err != nil {
			return nil, err
		}
		return lock.Acquire(ctx, path)
	}
	if _, err := r.PromoteFallback(context.Background(), opts); !errors.Is(err, ErrAlreadyOnFallback) {
		t.Fatalf("got %v", err)
	}
	f.wantCalls()
	if fl, _ := ReadFallbackLock(opts.FallbackLockPath); fl == nil || fl.Who != "council-integrity" {
		t.Errorf("winner's lock overwritten: %+v", fl)
	}
}

// promoteHelper is a second prober process: it waits for stdin to close
// (the start gun), promotes, and reports how it went on stdout.
func promoteHelper() int {
	var opts PromoteOpts
	if err := json.Unmarshal([]byte(os.Getenv("LAUNCHCTL_TEST_PROMOTE")), &opts); err != nil {
		fmt.Println("error", err)
		return 1
	}
	addrFile := os.Getenv("LAUNCHCTL_TEST_ADDR")
	opts.Verify = (&agent{addrFile: addrFile}).serving(0)
	io.Copy(io.Discard, os.Stdin)
	r := New(os.Getenv("LAUNCHCTL_TEST_BIN"))
	r.UID = 501
	r.Out = io.Discard
	r.VerifyTimeout, r.VerifyInterval, r.BootstrapRetryDelay = 20*time.Second, 50*time.Millisecond, 0
	_, err := r.PromoteFallback(context.Background(), opts)
	switch {
	case err == nil:
		fmt.Println("promoted")
	case errors.Is(err, ErrAlreadyOnFallback):
		fmt.Println("already")
	default:
		fmt.Println("error", err)
	}
	return 0
}

func TestPromoteFallbackRaceBetweenProcesses(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	_, fb, opts := promoteSetup(t, f, r, true)
	opts.Verify = nil // functions do not cross processes; the helper builds its own
	type plain PromoteOpts
	optsJSON, err := json.Marshal(struct {
		plain
		Verify any `json:"Verify,omitempty"`
	}{plain: plain(opts)})
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	type proc struct {
		cmd   *exec.Cmd
		out   bytes.Buffer
		start io.WriteCloser
	}
	var procs []*proc
	for i := 0; i < 2; i++ {
		p := &proc{cmd: exec.Command(exe, "-test.run=^$")}
		p.cmd.Env = append(f.env(),
			"LAUNCHCTL_TEST_PROMOTE="+string(optsJSON),
			"LAUNCHCTL_TEST_ADDR="+fb.addrFile,
			"LAUNCHCTL_TEST_BIN="+fakeLaunchctl,
		)
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		if p.start, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		p.start.Close()
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.cmd.Wait() }()
	}
	wg.Wait()
	var results []string
	for _, p := range procs {
		results = append(results, strings.TrimSpace(p.out.String()))
	}
	promoted, already := 0, 0
	for _, res := range results {
		switch res {
		case "promoted":
			promoted++
		case "already":
			already++
		}
	}
	if promoted != 1 || already != 1 {
		t.Fatalf("want exactly one promotion and one refusal, got %q", results)
	}
	bootouts := 0
	for _, c := range f.calls() {
		if c == "bootout gui/501/"+primary {
			bootouts++
		}
	}
	if bootouts != 1 {
		t.Errorf("primary booted out %d times, want 1", bootouts)
	}
}

func TestPromoteFallbackDryRun(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	_, fb, opts := promoteSetup(t, f, r, true)
	before, err := os.ReadFile(f.state)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.DryRun, r.Out, r.Path = true, &out, "launchctl"
	res, err := r.PromoteFallback(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"dry-run: take remediation lock " + opts.RemediationLockPath,
		"dry-run: write fallback lock " + opts.FallbackLockPath + " ",
		"dry-run: launchctl bootout gui/501/" + primary,
		"dry-run: launchctl disable gui/501/" + primary,
		"dry-run: launchctl enable gui/501/" + fallback,
		"dry-run: launchctl bootstrap gui/501 " + fb.plist,
		"dry-run: launchctl kickstart -k gui/501/" + fallback,
	}
	if len(lines) != len(want) {
		t.Fatalf("dry-run output:\n%s", out.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}
	if !strings.Contains(lines[1], `"who":"council-guardian"`) {
		t.Errorf("dry-run lock line does not show the lock: %q", lines[1])
	}
	if res.Verified {
		t.Error("dry-run claims verified")
	}
	f.wantCalls()
	if _, err := os.Stat(opts.FallbackLockPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dry-run wrote the fallback lock: %v", err)
	}
	if _, err := os.Stat(opts.RemediationLockPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dry-run created the remediation lock: %v", err)
	}
	after, err := os.ReadFile(f.state)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("dry-run changed launchd's state")
	}
}

// A promotion must survive a reboot: login bootstraps every plist in
// ~/Library/LaunchAgents, and only `launchctl disable` keeps the broken
// primary (RunAtLoad) from starting beside the fallback and racing it for
// the port.
func TestPromoteFallbackSurvivesReboot(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	r := f.runner()
	_, fb, opts := promoteSetup(t, f, r, true)
	if got := f.running(); !slices.Equal(got, []string{primary}) {
		t.Fatalf("before the promotion %q run, want only the primary", got)
	}
	if _, err := r.PromoteFallback(ctx, opts); err != nil {
		t.Fatal(err)
	}
	f.reboot(r)
	if got := f.running(); !slices.Equal(got, []string{fallback}) {
		t.Errorf("after a reboot on the fallback %q run, want only the fallback", got)
	}
	if _, err := r.Print(ctx, primary); !IsNotLoaded(err) {
		t.Errorf("the disabled primary was loaded at login: %v", err)
	}
	waitFor(t, "the fallback to serve after the reboot", func() bool { _, _, err := fb.get(ctx); return err == nil })
}

// restoreSetup is the world after a promotion (primary booted out and
// disabled, fallback serving, fallback lock written) and the RestoreOpts
// that switch back.
func restoreSetup(t *testing.T) (f *fakeLaunchd, r *Runner, p, fb *agent, opts RestoreOpts) {
	t.Helper()
	f = newFake(t)
	r = f.runner()
	p, fb, popts := promoteSetup(t, f, r, true)
	if _, err := r.PromoteFallback(context.Background(), popts); err != nil {
		t.Fatal(err)
	}
	f.calls()
	return f, r, p, fb, RestoreOpts{
		Primary: primary, PrimaryDefinition: p.plist, Fallback: fallback, FallbackDefinition: fb.plist,
		FallbackLockPath: popts.FallbackLockPath, RemediationLockPath: popts.RemediationLockPath,
		CheckPrimary:   func(context.Context) error { return nil },
		Verify:         p.serving(0),
		VerifyFallback: fb.serving(0),
	}
}

func TestRestorePrimary(t *testing.T) {
	ctx := context.Background()
	f, r, p, _, opts := restoreSetup(t)
	fbInfo, err := r.Print(ctx, fallback)
	if err != nil {
		t.Fatal(err)
	}
	f.calls()

	t.Run("a failing primary check changes nothing", func(t *testing.T) {
		o := opts
		o.CheckPrimary = func(context.Context) error { return errors.New("codesign: invalid signature") }
		if _, err := r.RestorePrimary(ctx, o); !errors.Is(err, ErrPrimaryCheckFailed) {
			t.Fatalf("got %v", err)
		}
		f.wantCalls()
		if ok, _ := FallbackLockExists(opts.FallbackLockPath); !ok {
			t.Error("fallback lock removed")
		}
	})
	t.Run("restore", func(t *testing.T) {
		res, err := r.RestorePrimary(ctx, opts)
		if err != nil {
			t.Fatalf("%v\nsteps %q", err, res.Steps)
		}
		f.wantCalls(
			"bootout gui/501/"+fallback,
			"disable gui/501/"+fallback,
			"enable gui/501/"+primary,
			"bootout gui/501/"+primary,
			"bootstrap gui/501 "+p.plist,
			"kickstart -k gui/501/"+primary,
		)
		if !res.Verified || res.RolledBack {
			t.Errorf("verified=%v rolled back=%v", res.Verified, res.RolledBack)
		}
		if _, err := ReadFallbackLock(opts.FallbackLockPath); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("fallback lock not removed: %v", err)
		}
		if processAlive(fbInfo.PID) {
			t.Error("fallback process still running")
		}
		disabled, err := r.PrintDisabled(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !disabled[fallback] {
			t.Errorf("fallback not disabled in launchd: %v", disabled)
		}
		if off, ok := disabled[primary]; !ok || off {
			t.Errorf("primary not enabled in launchd: %v", disabled)
		}
	})
	t.Run("a reboot after the restore starts only the primary", func(t *testing.T) {
		f.reboot(r)
		if got := f.running(); !slices.Equal(got, []string{primary}) {
			t.Errorf("after a reboot %q run, want only the primary", got)
		}
		waitFor(t, "the primary to serve after the reboot", func() bool { _, _, err := p.get(ctx); return err == nil })
	})
}

// A restore that does not end with the primary serving is rolled back
// under the same remediation lock: the fallback serves again, launchd's
// override database is as the promotion left it, the fallback lock stays.
func TestRestorePrimaryRollsBack(t *testing.T) {
	ctx := context.Background()
	down := errors.New("connection refused")
	forward := func(p *agent) []string {
		return []string{
			"bootout gui/501/" + fallback,
			"disable gui/501/" + fallback,
			"enable gui/501/" + primary,
			"bootout gui/501/" + primary,
			"bootstrap gui/501 " + p.plist,
		}
	}
	back := func(fb *agent) []string {
		return []string{
			"bootout gui/501/" + primary,
			"disable gui/501/" + primary,
			"enable gui/501/" + fallback,
			"bootstrap gui/501 " + fb.plist,
		}
	}
	for _, tc := range []struct {
		name string
		// fail is injected into the fake launchd for the restore.
		fail string
		// primaryServes: the primary's verify passes (it is never reached
		// when a launchctl step fails).
		primaryServes bool
		want          func(p, fb *agent) []string
		wantErr       error
	}{
		{"the primary does not verify", "", false, func(p, fb *agent) []string {
			return slices.Concat(forward(p), []string{"kickstart -k gui/501/" + primary}, back(fb),
				[]string{"kickstart -k gui/501/" + fallback})
		}, ErrRolledBack},
		{"the primary's bootstrap fails twice", "bootstrap:" + primary + "=eio", true, func(p, fb *agent) []string {
			return slices.Concat(forward(p), []string{"bootout gui/501/" + primary, "bootstrap gui/501 " + p.plist, "print-disabled gui/501"},
				back(fb), []string{"kickstart -k gui/501/" + fallback})
		}, ErrRolledBack},
		{"the rollback fails too", "bootstrap:" + fallback + "=eio", false, func(p, fb *agent) []string {
			return slices.Concat(forward(p), []string{"kickstart -k gui/501/" + primary}, back(fb),
				[]string{"bootout gui/501/" + fallback, "bootstrap gui/501 " + fb.plist, "print-disabled gui/501"})
		}, ErrRollbackFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, r, p, fb, opts := restoreSetup(t)
			f.fail = tc.fail
			// The primary's verify spends its whole budget at once (a fake
			// clock); the fallback's verify then sleeps for real.
			now := time.Unix(1_700_000_000, 0)
			r.Now = func() time.Time { return now }
			r.Sleep = func(ctx context.Context, d time.Duration) error { now = now.Add(d); return SleepContext(ctx, d) }
			if !tc.primaryServes {
				opts.Verify = func(context.Context) error { now = now.Add(r.VerifyTimeout); return down }
			}
			res, err := r.RestorePrimary(ctx, opts)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v\nsteps %q", err, tc.wantErr, res.Steps)
			}
			if !tc.primaryServes && !errors.Is(err, down) {
				t.Errorf("the error does not carry the cause: %v", err)
			}
			f.wantCalls(tc.want(p, fb)...)
			if ok, _ := FallbackLockExists(opts.FallbackLockPath); !ok {
				t.Error("fallback lock removed by a failed restore")
			}
			if res.Verified {
				t.Error("a failed restore claims the primary verified")
			}
			if _, err := r.Print(ctx, primary); !IsNotLoaded(err) {
				t.Errorf("primary still loaded after the rollback: %v", err)
			}
			disabled, perr := r.PrintDisabled(ctx)
			if perr != nil {
				t.Fatal(perr)
			}
			if !disabled[primary] {
				t.Errorf("primary not disabled again after the rollback: %v", disabled)
			}
			if off, ok := disabled[fallback]; !ok || off {
				t.Errorf("fallback not enabled again after the rollback: %v", disabled)
			}
			if tc.wantErr == ErrRollbackFailed {
				if res.RolledBack || errors.Is(err, ErrRolledBack) {
					t.Errorf("a failed rollback is reported as done: %v", err)
				}
				return
			}
			if !res.RolledBack {
				t.Error("result does not say the restore was rolled back")
			}
			if !strings.Contains(err.Error(), "rolled back") {
				t.Errorf("the error does not say it rolled back: %v", err)
			}
			if _, _, err := fb.get(ctx); err != nil {
				t.Errorf("fallback not serving after the rollback: %v", err)
			}
			// The lock was released: a later restore can run.
			if l, err := lock.TryLock(opts.RemediationLockPath); err != nil {
				t.Errorf("remediation lock still held: %v", err)
			} else {
				l.Release()
			}
			f.fail = ""
			f.reboot(r)
			if got := f.running(); !slices.Equal(got, []string{fallback}) {
				t.Errorf("after a reboot %q run, want only the fallback", got)
			}
		})
	}
}

// The dry run prints the whole switch, enable of the primary included, and
// the rollback it would do, and changes nothing.
func TestRestorePrimaryDryRun(t *testing.T) {
	f, r, p, _, opts := restoreSetup(t)
	before, err := os.ReadFile(f.state)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.DryRun, r.Out, r.Path = true, &out, "launchctl"
	if _, err := r.RestorePrimary(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dry-run: take remediation lock " + opts.RemediationLockPath,
		"dry-run: launchctl bootout gui/501/" + fallback,
		"dry-run: launchctl disable gui/501/" + fallback,
		"dry-run: launchctl enable gui/501/" + primary,
		"dry-run: launchctl bootout gui/501/" + primary,
		"dry-run: launchctl bootstrap gui/501 " + p.plist,
		"dry-run: launchctl kickstart -k gui/501/" + primary,
		"dry-run: if " + primary + " does not serve: roll back to " + fallback,
		"dry-run: remove fallback lock " + opts.FallbackLockPath,
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("dry-run output:\n%s", out.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}
	f.wantCalls()
	after, err := os.ReadFile(f.state)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("dry-run changed launchd's state")
	}
	if ok, _ := FallbackLockExists(opts.FallbackLockPath); !ok {
		t.Error("dry-run removed the fallback lock")
	}
}

func TestReadFallbackLockMissing(t *testing.T) {
	fl, err := ReadFallbackLock(filepath.Join(t.TempDir(), "none.lock"))
	if fl != nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %+v, %v", fl, err)
	}
}
