package launchctl

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestValidateLabel(t *testing.T) {
	for _, tc := range []struct {
		label string
		ok    bool
	}{
		{"com.sanctum.mlx", true},
		{"com.sanctum.council-guardian", true},
		{"org.example.a_b.9", true},
		{"", false},
		{"com/sanctum", false},
		{"com.sanctum mlx", false},
		{"-k", false},
		{".hidden", false},
		{"com.sanctum.mlx\n", false},
		{"gui/501/com.x", false},
		{strings.Repeat("a", 256), false},
	} {
		t.Run(tc.label, func(t *testing.T) {
			err := ValidateLabel(tc.label)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateLabel(%q) = %v, want ok=%v", tc.label, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidLabel) {
				t.Errorf("error %v does not wrap ErrInvalidLabel", err)
			}
		})
	}
}

// A bad label must be refused before launchctl runs at all.
func TestInvalidLabelRunsNothing(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	plistPath := f.writeAgent(&agent{label: "com.sanctum.server-mlx"}).plist
	const bad = "com.evil; rm -rf ~"
	for name, call := range map[string]func() error{
		"print":     func() error { _, err := r.Print(ctx, bad); return err },
		"enable":    func() error { return r.Enable(ctx, bad) },
		"disable":   func() error { return r.Disable(ctx, bad) },
		"bootout":   func() error { return r.Bootout(ctx, bad) },
		"kickstart": func() error { return r.Kickstart(ctx, bad, true) },
		"restart":   func() error { _, err := r.Restart(ctx, bad, ok); return err },
		"reload":    func() error { _, err := r.Reload(ctx, bad, plistPath); return err },
		"promote": func() error {
			_, err := r.PromoteFallback(ctx, PromoteOpts{
				Primary: "-k", Fallback: "com.sanctum.server-mlx", FallbackDefinition: plistPath,
				FallbackLockPath: filepath.Join(f.dir, "fb.lock"), RemediationLockPath: filepath.Join(f.dir, "rem.lock"), Verify: ok,
			})
			return err
		},
		"restore": func() error {
			_, err := r.RestorePrimary(ctx, RestoreOpts{
				Primary: "", Fallback: "com.sanctum.server-mlx", PrimaryDefinition: plistPath,
				FallbackLockPath: filepath.Join(f.dir, "fb.lock"), RemediationLockPath: filepath.Join(f.dir, "rem.lock"),
				CheckPrimary: ok, Verify: ok,
			})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, ErrInvalidLabel) {
				t.Fatalf("got %v, want ErrInvalidLabel", err)
			}
		})
	}
	f.wantCalls() // nothing ran
	if _, err := os.Stat(filepath.Join(f.dir, "fb.lock")); !os.IsNotExist(err) {
		t.Errorf("fallback lock written for an invalid label: %v", err)
	}
}

func TestExitErrors(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	ctx := context.Background()
	a := f.writeAgent(&agent{label: "com.sanctum.mlx", runAtLoad: boolp(false)})

	t.Run("bootout of an unknown label is not-loaded", func(t *testing.T) {
		err := r.Bootout(ctx, "com.sanctum.nothing")
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != 3 || !IsNotLoaded(err) || IsIOError(err) {
			t.Fatalf("got %#v", err)
		}
		if want := "launchctl bootout gui/501/com.sanctum.nothing: exit 3: Boot-out failed: 3: No such process"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
	t.Run("print of an unknown label is not-loaded", func(t *testing.T) {
		_, err := r.Print(ctx, "com.sanctum.nothing")
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != 113 || !IsNotLoaded(err) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bootstrap of a loaded label is EIO", func(t *testing.T) {
		if err := r.Bootstrap(ctx, a.plist); err != nil {
			t.Fatal(err)
		}
		err := r.Bootstrap(ctx, a.plist)
		if !IsIOError(err) || IsNotLoaded(err) {
			t.Fatalf("got %v", err)
		}
		want := "launchctl bootstrap gui/501 " + a.plist + ": exit 5: Bootstrap failed: 5: Input/output error; Try re-running the command as root for richer errors."
		if err.Error() != want {
			t.Errorf("error %q\nwant  %q", err, want)
		}
		var ee *ExitError
		if errors.As(err, &ee); ee.Args[0] != "bootstrap" || ee.Args[2] != a.plist {
			t.Errorf("args %q", ee.Args)
		}
	})
	t.Run("a missing launchctl is an error, not a panic", func(t *testing.T) {
		r := New(filepath.Join(f.dir, "no-such-launchctl"))
		err := r.Kickstart(ctx, "com.sanctum.mlx", false)
		var ee *ExitError
		if err == nil || errors.As(err, &ee) {
			t.Fatalf("got %v", err)
		}
	})
}

// The fake's print output is what the parser reads: same layout as the
// real fixture, and the facts match the process the fake started.
func TestPrintAgainstFake(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	ctx := context.Background()
	a := f.writeAgent(&agent{label: "com.sanctum.mlx", runAtLoad: boolp(true), keepAlive: true})
	if err := r.Bootstrap(ctx, a.plist); err != nil {
		t.Fatal(err)
	}
	info, err := r.Print(ctx, a.label)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Running() || !processAlive(info.PID) || info.Path != a.plist || info.Label != a.label || info.Runs != 1 {
		t.Fatalf("print: %+v", info)
	}
	if _, pid, err := a.get(ctx); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	} else if err == nil && pid != info.PID {
		t.Errorf("server pid %d, launchctl print pid %d", pid, info.PID)
	}
	fixture, err := os.ReadFile(filepath.Join("testdata", "print-running.txt"))
	if err != nil {
		t.Fatal(err)
	}
	real, err := ParsePrint(fixture)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]string, skip ...string) string {
		var ks []string
	next:
		for k := range m {
			for _, s := range skip {
				if k == s {
					continue next
				}
			}
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ", ")
	}
	// The fixture's agent sets a working directory and stdout; the fake's
	// test agent does not.
	if got, want := keys(info.Fields), keys(real.Fields, "working directory", "stdout path"); got != want {
		t.Errorf("fake print fields differ from the real sample:\n  fake %s\n  real %s", got, want)
	}

	// Killed behind launchd's back: KeepAlive respawns it.
	old := info.PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed process to die", func() bool { return !processAlive(old) })
	info, err = r.Print(ctx, a.label)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Running() || info.PID == old || info.Runs != 2 {
		t.Errorf("KeepAlive did not respawn: %+v", info)
	}
}

func TestPrintDisabledAgainstFake(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	ctx := context.Background()
	if err := r.Disable(ctx, "com.sanctum.server-mlx"); err != nil {
		t.Fatal(err)
	}
	if err := r.Enable(ctx, "com.sanctum.mlx"); err != nil {
		t.Fatal(err)
	}
	got, err := r.PrintDisabled(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["com.sanctum.server-mlx"] || got["com.sanctum.mlx"] {
		t.Errorf("print-disabled: %v", got)
	}
	f.wantCalls("disable gui/501/com.sanctum.server-mlx", "enable gui/501/com.sanctum.mlx", "print-disabled gui/501")
}

// The launchd facts of docs/DESIGN.md section 5, as the fake reproduces them.
func TestFakeDisabledSemantics(t *testing.T) {
	ctx := context.Background()
	t.Run("Disabled=true loads but does not start, until enabled", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: "com.sanctum.server-mlx", keepAlive: true, disabled: true})
		if err := r.Bootstrap(ctx, a.plist); err != nil {
			t.Fatal(err)
		}
		if info, err := r.Print(ctx, a.label); err != nil || info.Running() {
			t.Fatalf("disabled KeepAlive agent started at bootstrap: %+v %v", info, err)
		}
		if err := r.Kickstart(ctx, a.label, true); !IsServiceDisabled(err) {
			t.Fatalf("kickstart of a disabled agent: %v", err)
		}
		if err := r.Enable(ctx, a.label); err != nil {
			t.Fatal(err)
		}
		if err := r.Kickstart(ctx, a.label, true); err != nil {
			t.Fatal(err)
		}
		if info, err := r.Print(ctx, a.label); err != nil || !info.Running() {
			t.Fatalf("enabled agent not running after kickstart: %+v %v", info, err)
		}
	})
	t.Run("editing a loaded plist changes nothing until re-bootstrap", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: "com.sanctum.server-mlx", keepAlive: true})
		if err := r.Bootstrap(ctx, a.plist); err != nil {
			t.Fatal(err)
		}
		info, err := r.Print(ctx, a.label)
		if err != nil || !info.Running() {
			t.Fatalf("KeepAlive without RunAtLoad=false did not start: %+v %v", info, err)
		}
		a.disabled = true
		f.writeAgent(a) // Disabled=true on disk now
		if err := r.Kickstart(ctx, a.label, true); err != nil {
			t.Fatalf("plist edit took effect without re-bootstrap: %v", err)
		}
		if err := r.Bootout(ctx, a.label); err != nil {
			t.Fatal(err)
		}
		if processAlive(info.PID) {
			t.Error("bootout left the process running")
		}
		if err := r.Bootstrap(ctx, a.plist); err != nil {
			t.Fatal(err)
		}
		if err := r.Kickstart(ctx, a.label, false); !IsServiceDisabled(err) {
			t.Fatalf("re-bootstrapped Disabled=true agent started: %v", err)
		}
	})
	t.Run("launchctl disable makes bootstrap fail with EIO", func(t *testing.T) {
		f := newFake(t)
		r := f.runner()
		a := f.writeAgent(&agent{label: "com.sanctum.server-mlx", runAtLoad: boolp(true)})
		if err := r.Disable(ctx, a.label); err != nil {
			t.Fatal(err)
		}
		if err := r.Bootstrap(ctx, a.plist); !IsIOError(err) {
			t.Fatalf("bootstrap of a disabled label: %v", err)
		}
	})
}

func TestDryRunPrintsArgv(t *testing.T) {
	var out bytes.Buffer
	r := New("launchctl")
	r.UID = 501
	r.DryRun = true
	r.Out = &out
	r.Exec = func(context.Context, string, []string) ([]byte, int, error) {
		t.Fatal("dry-run executed a mutating command")
		return nil, 0, nil
	}
	ctx := context.Background()
	for _, err := range []error{
		r.Kickstart(ctx, "com.sanctum.mlx", true),
		r.Bootstrap(ctx, "/Users/neo/Library/LaunchAgents/My Agent.plist"),
		r.Enable(ctx, "com.sanctum.server-mlx"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := "dry-run: launchctl kickstart -k gui/501/com.sanctum.mlx\n" +
		"dry-run: launchctl bootstrap gui/501 '/Users/neo/Library/LaunchAgents/My Agent.plist'\n" +
		"dry-run: launchctl enable gui/501/com.sanctum.server-mlx\n"
	if out.String() != want {
		t.Errorf("dry-run output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// Read-only commands still run in dry-run mode: checks must see real state.
func TestDryRunStillReads(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	r.DryRun = true
	if _, err := r.PrintDisabled(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.wantCalls("print-disabled gui/501")
}

// Concurrent invocations of the fake serialise on its state lock: no
// update is lost.
func TestFakeConcurrentInvocations(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	ctx := context.Background()
	const n = 16
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() { errs <- r.Disable(ctx, "com.sanctum.concurrent-"+strconv.Itoa(i)) }()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.PrintDisabled(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("%d of %d overrides survived: %v", len(got), n, got)
	}
}

// A restart is verified against a new process that starts only after the
// old one is gone, and launchd may wait its whole ExitTimeOut for that (a
// server that keeps its process after SIGTERM, as llama-server did with a
// stream open): the default verify timeout must outlast the stop and the
// primary's start together, and the lock timeout the verify.
func TestVerifyTimeoutOutlastsTheStop(t *testing.T) {
	if DefaultVerifyTimeout <= LaunchdExitTimeout+PrimaryStartup {
		t.Errorf("DefaultVerifyTimeout %s does not outlast launchd's stop (%s) and the primary's start (%s)",
			DefaultVerifyTimeout, LaunchdExitTimeout, PrimaryStartup)
	}
	if DefaultLockTimeout <= DefaultVerifyTimeout {
		t.Errorf("DefaultLockTimeout %s does not outlast a verify (%s)", DefaultLockTimeout, DefaultVerifyTimeout)
	}
}
