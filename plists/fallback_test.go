package plists_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/plists"
)

const fallbackLabel = "com.sanctum.server-mlx"

var fallbackDisable = "disable gui/" + uid + "/" + fallbackLabel

// fakeLaunchctlRun runs the fake launchctl itself (as an operator would run
// launchctl), for state a test sets up or reads back.
func fakeLaunchctlRun(t *testing.T, ld *probetest.Launchd, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(ld.Path, args...)
	cmd.Env = ld.Env()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("launchctl %v: %v", args, err)
	}
	return out
}

// disabledInLaunchd is launchd's override database as `launchctl
// print-disabled gui/<uid>` shows it.
func disabledInLaunchd(t *testing.T, ld *probetest.Launchd) map[string]bool {
	t.Helper()
	m, err := launchctl.ParsePrintDisabled(fakeLaunchctlRun(t, ld, "print-disabled", "gui/"+uid))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fallbackCalls are the launchctl calls among calls that name the fallback.
func fallbackCalls(calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.Contains(c, fallbackLabel) {
			out = append(out, c)
		}
	}
	return out
}

func writeLock(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	lock := `{"who":"council-guardian","when":"2026-04-20T03:12:00Z","why":"primary binary missing","pid":4242}`
	if err := os.WriteFile(path, []byte(lock+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestInstallDisablesFallback: install --with-fallback enforces the
// fallback's Disabled=true with `launchctl disable` (the plist key is read
// only at bootstrap), before any probe is loaded, and never bootstraps or
// kickstarts it; while the fallback lock exists the fallback is serving and
// its launchd state is left alone.
func TestInstallDisablesFallback(t *testing.T) {
	tests := []struct {
		name string
		// enabled: launchd already has the fallback enabled (incident
		// I5's boot race: bootstrapped before the plist said Disabled).
		enabled bool
		// defaultLock, envLock: a fallback lock at the probes' default path
		// / at a path given by COUNCIL_FALLBACK_LOCK; flagLock passes
		// --fallback-lock to a path that does not exist.
		defaultLock, envLock, flagLock bool
		wantDisable                    bool
	}{
		{name: "not known to launchd", wantDisable: true},
		{name: "enabled in launchd", enabled: true, wantDisable: true},
		{name: "lock at the default path", enabled: true, defaultLock: true},
		{name: "lock from COUNCIL_FALLBACK_LOCK", enabled: true, envLock: true},
		{name: "--fallback-lock elsewhere, absent", enabled: true, defaultLock: true, flagLock: true, wantDisable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := probetest.NewHome(t)
			ld := probetest.NewLaunchd(t, fakeLaunchctl)
			dest := t.TempDir()
			extra := ld.Env()
			args := []string{"install", "--destdir", dest, "--bindir", fakeBinDir(t), "--with-fallback"}
			lockPath := filepath.Join(h.StateDir, "council-fallback.lock")
			if tt.defaultLock {
				writeLock(t, lockPath)
			}
			if tt.envLock {
				lockPath = filepath.Join(t.TempDir(), "elsewhere", "fallback.lock")
				writeLock(t, lockPath)
				extra = append(extra, "COUNCIL_FALLBACK_LOCK="+lockPath)
			}
			if tt.flagLock {
				args = append(args, "--fallback-lock", filepath.Join(t.TempDir(), "absent.lock"))
			}
			if tt.enabled {
				fakeLaunchctlRun(t, ld, "enable", "gui/"+uid+"/"+fallbackLabel)
			}
			n := len(ld.Calls())

			res := run(t, env(h, extra...), args...)
			if res.Code != 0 {
				t.Fatalf("exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
			}
			calls := ld.Calls()[n:]
			var want []string
			if tt.wantDisable {
				want = []string{fallbackDisable}
			}
			if got := fallbackCalls(calls); !slices.Equal(got, want) {
				t.Errorf("fallback calls %q, want %q (never bootstrap or kickstart)", got, want)
			}
			if tt.wantDisable && calls[0] != fallbackDisable {
				t.Errorf("first call %q, want the fallback disabled before any probe is loaded", calls[0])
			}
			if got := disabledInLaunchd(t, ld)[fallbackLabel]; got != tt.wantDisable {
				t.Errorf("print-disabled: %s disabled=%t, want %t", fallbackLabel, got, tt.wantDisable)
			}
			svcs := loaded(t, ld)
			if svcs[fallbackLabel] != nil {
				t.Errorf("the fallback was bootstrapped: %+v", svcs[fallbackLabel])
			}
			for _, l := range labels {
				if svcs[l] == nil {
					t.Errorf("%s not loaded", l)
				}
			}
			printed := strings.Contains(res.Stdout, " "+fallbackDisable+"\n")
			if printed != tt.wantDisable {
				t.Errorf("stdout shows the disable: %t, want %t\n%s", printed, tt.wantDisable, res.Stdout)
			}
			if why := "fallback lock " + lockPath + " exists"; !tt.wantDisable && !strings.Contains(res.Stderr, why) {
				t.Errorf("stderr does not say why the fallback was left alone (%q):\n%s", why, res.Stderr)
			}
		})
	}
}

// TestInstallFallbackLockUncheckable: a lock that cannot be checked may
// mean the fallback serves: it is not disabled, the install fails, and the
// probes are loaded all the same.
func TestInstallFallbackLockUncheckable(t *testing.T) {
	h := probetest.NewHome(t)
	ld := probetest.NewLaunchd(t, fakeLaunchctl)
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	res := run(t, env(h, ld.Env()...), "install", "--destdir", t.TempDir(), "--bindir", fakeBinDir(t),
		"--with-fallback", "--fallback-lock", filepath.Join(notDir, "council-fallback.lock"))
	if res.Code != 1 || !strings.Contains(res.Stderr, "not disabling "+fallbackLabel) {
		t.Fatalf("exit %d, want 1 naming the fallback\n%s", res.Code, res.Stderr)
	}
	if got := fallbackCalls(ld.Calls()); len(got) != 0 {
		t.Errorf("fallback calls %q, want none", got)
	}
	svcs := loaded(t, ld)
	for _, l := range labels {
		if svcs[l] == nil {
			t.Errorf("%s not loaded", l)
		}
	}
}

// TestInstallDryRunDisablesFallback: in dry-run, and where there is no
// launchd, the disable is printed first, exactly, with the reload
// sequence; with the fallback lock it is not.
func TestInstallDryRunDisablesFallback(t *testing.T) {
	tests := []struct {
		name     string
		dryRun   bool
		lock     bool
		noLaunch bool
	}{
		{name: "dry-run", dryRun: true},
		{name: "dry-run with the fallback lock", dryRun: true, lock: true},
		{name: "no launchd", noLaunch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.noLaunch && !plists.NoLaunchd(runtime.GOOS, false) {
				t.Skip("this system has launchd")
			}
			h := probetest.NewHome(t)
			dest := t.TempDir()
			if tt.lock {
				writeLock(t, filepath.Join(h.StateDir, "council-fallback.lock"))
			}
			args := []string{"install", "--destdir", dest, "--with-fallback"}
			if tt.dryRun {
				args = append(args, "--dry-run")
			}
			res := run(t, env(h), args...)
			if res.Code != 0 {
				t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
			}
			var want strings.Builder
			if !tt.lock {
				want.WriteString("dry-run: launchctl " + fallbackDisable + "\n")
			}
			for _, c := range reloadCalls(dest) {
				want.WriteString("dry-run: launchctl " + c + "\n")
			}
			if res.Stdout != want.String() {
				t.Errorf("stdout:\n%s--- want:\n%s", res.Stdout, want.String())
			}
		})
	}
}
