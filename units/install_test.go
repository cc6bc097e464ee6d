package units_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/units"
)

var unitsBin string

// TestMain builds the real council-units binary once; the end-to-end tests
// run it.
func TestMain(m *testing.M) {
	probetest.RunMain(m, probetest.Binary{Out: &unitsBin, Pkg: "./cmd/council-units", Name: "council-units"})
}

// fakeSystemctl writes a systemctl into a temporary directory that logs its
// argv, one call per line, and fails (exit 1, as systemctl does) for any
// call naming the unit in $FAKE_SYSTEMCTL_FAIL. It returns the directory to
// put first on PATH and the log.
func fakeSystemctl(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	probetest.WriteScript(t, dir, "systemctl", `printf '%s\n' "$*" >> "`+log+`"
if [ -n "$FAKE_SYSTEMCTL_FAIL" ]; then
	for a in "$@"; do
		if [ "$a" = "$FAKE_SYSTEMCTL_FAIL" ]; then
			echo "Failed to enable unit: Unit $a is masked." >&2
			exit 1
		fi
	done
fi
exit 0
`)
	return dir, log
}

func calls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// env is a clean environment: HOME is the test home, the fake systemctl
// (when given) first on PATH, and no XDG_CONFIG_HOME.
func env(h *probetest.Home, fakeDir string, extra ...string) []string {
	e := h.Env(extra...)
	if fakeDir != "" {
		for i, kv := range e {
			if strings.HasPrefix(kv, "PATH=") {
				e[i] = "PATH=" + fakeDir + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
			}
		}
	}
	return e
}

func run(t *testing.T, environ []string, args ...string) probetest.Result {
	t.Helper()
	return probetest.Run(t, 60*time.Second, environ, unitsBin, args...)
}

// binDir installs a tiny executable council-<name> per probe.
func binDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range suite.Probes {
		probetest.WriteScript(t, dir, p.Binary(), "exit 0\n")
	}
	return dir
}

// installCalls is install's systemctl sequence.
func installCalls() []string {
	out := []string{"--user daemon-reload"}
	for _, p := range suite.Probes {
		out = append(out, "--user enable --now "+units.TimerName(p))
	}
	return out
}

// unitNames are every probe's service and timer file names.
func unitNames() []string {
	var out []string
	for _, p := range suite.Probes {
		out = append(out, units.ServiceName(p), units.TimerName(p))
	}
	return out
}

type fileID struct {
	ino   uint64
	mtime time.Time
	data  string
}

// snapshot records every file under dir (recursively) by inode, mtime and
// content.
func snapshot(t *testing.T, dir string) map[string]fileID {
	t.Helper()
	out := map[string]fileID{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		data, _ := os.ReadFile(p)
		out[p] = fileID{ino: fi.Sys().(*syscall.Stat_t).Ino, mtime: fi.ModTime(), data: string(data)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// validateDir checks that dest holds exactly the probes' units, each valid
// for home h and bindir bin, with mode 0644.
func validateDir(t *testing.T, h *probetest.Home, dest, bin string) {
	t.Helper()
	cfg, err := units.Config{Home: h.Dir, BinDir: bin}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range suite.Probes {
		svc, tmr, err := units.Render(cfg.ProbeJob(p))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []units.Unit{svc, tmr} {
			path := filepath.Join(dest, u.Name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			u.Data = data
			if err := units.Validate(u, nil); err != nil {
				t.Errorf("installed unit invalid: %v", err)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != units.UnitMode {
				t.Errorf("%s mode %v, want %v", u.Name, fi.Mode().Perm(), units.UnitMode)
			}
		}
	}
	var got []string
	entries, _ := os.ReadDir(dest)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := unitNames()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dest, got, want)
	}
}

// TestInstallDryRunTwice is `make install-units DESTDIR=... DRY_RUN=1` run
// twice: the same exact systemctl lines, the units written once and then
// left untouched, nothing written outside DESTDIR, no token anywhere.
func TestInstallDryRunTwice(t *testing.T) {
	h := probetest.NewHome(t).WithToken(0o600)
	dest := filepath.Join(t.TempDir(), "units")
	homeBefore := snapshot(t, h.Dir)
	args := []string{"install", "--destdir", dest, "--dry-run"}

	first := run(t, env(h, ""), args...)
	if first.Code != 0 {
		t.Fatalf("exit %d\n%s%s", first.Code, first.Stdout, first.Stderr)
	}
	var want strings.Builder
	for _, c := range installCalls() {
		want.WriteString("dry-run: systemctl " + c + "\n")
	}
	if first.Stdout != want.String() {
		t.Errorf("stdout is not the exact systemctl sequence:\n--- got\n%s--- want\n%s", first.Stdout, want.String())
	}
	if n := strings.Count(first.Stderr, "written "); n != 2*len(suite.Probes) {
		t.Errorf("first run wrote %d files, want %d:\n%s", n, 2*len(suite.Probes), first.Stderr)
	}
	validateDir(t, h, dest, "")
	before := snapshot(t, dest)

	second := run(t, env(h, ""), args...)
	if second.Code != 0 {
		t.Fatalf("second run exit %d\n%s", second.Code, second.Stderr)
	}
	if second.Stdout != first.Stdout {
		t.Errorf("second run printed a different sequence:\n%s", second.Stdout)
	}
	if n := strings.Count(second.Stderr, "unchanged "); n != 2*len(suite.Probes) {
		t.Errorf("second run: %d unchanged, want %d:\n%s", n, 2*len(suite.Probes), second.Stderr)
	}
	for name, b := range before {
		if snapshot(t, dest)[name] != b {
			t.Errorf("%s was rewritten by an idempotent run", name)
		}
	}
	if after := snapshot(t, h.Dir); len(after) != len(homeBefore) {
		t.Errorf("a dry run wrote outside DESTDIR: home had %d files, now %d", len(homeBefore), len(after))
	}
	if leaks := probetest.Leaks(h.Dir, first.Stdout, first.Stderr); len(leaks) > 0 {
		t.Errorf("token leaked: %v", leaks)
	}
	if leaks := probetest.Leaks(dest); len(leaks) > 0 {
		t.Errorf("token leaked into %v", leaks)
	}
}

// TestInstallAndUninstallWithFakeSystemctl runs council-units against a
// fake systemctl on PATH: install writes, verifies and enables; a second
// install writes nothing and runs only the reload and the enables it must;
// uninstall disables, cleans the persistent timer's state, removes and
// reloads; a second uninstall finds nothing to disable.
func TestInstallAndUninstallWithFakeSystemctl(t *testing.T) {
	h := probetest.NewHome(t).WithToken(0o600)
	fake, log := fakeSystemctl(t)
	dest := filepath.Join(h.Dir, ".config", "systemd", "user")
	bin := binDir(t)
	environ := env(h, fake, "XDG_RUNTIME_DIR="+t.TempDir())

	first := run(t, environ, "install", "--bindir", bin)
	if first.Code != 0 {
		t.Fatalf("first install exit %d\n%s%s", first.Code, first.Stdout, first.Stderr)
	}
	if got := calls(t, log); !slices.Equal(got, installCalls()) {
		t.Fatalf("first install calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(installCalls(), "\n"))
	}
	var ran []string
	for _, c := range installCalls() {
		ran = append(ran, "systemctl "+c)
	}
	if want := strings.Join(ran, "\n") + "\n"; first.Stdout != want {
		t.Errorf("stdout is not the commands run:\n%s", first.Stdout)
	}
	if want := fmt.Sprintf("verify: systemd-analyze --user verify passed for %d units", 2*len(suite.Probes)); runtime.GOOS == "linux" && !strings.Contains(first.Stderr, want) {
		t.Errorf("install did not verify the units with systemd-analyze:\n%s", first.Stderr)
	}
	validateDir(t, h, dest, bin)
	before := snapshot(t, dest)

	second := run(t, environ, "install", "--bindir", bin)
	if second.Code != 0 {
		t.Fatalf("second install exit %d\n%s%s", second.Code, second.Stdout, second.Stderr)
	}
	if got := calls(t, log)[len(installCalls()):]; !slices.Equal(got, installCalls()) {
		t.Errorf("second install calls:\n%s\nwant only the reload and the enables again", strings.Join(got, "\n"))
	}
	if n := strings.Count(second.Stderr, "unchanged "); n != 2*len(suite.Probes) || strings.Contains(second.Stderr, "written ") {
		t.Errorf("second install: %d unchanged, want all %d and nothing written:\n%s", n, 2*len(suite.Probes), second.Stderr)
	}
	for name, b := range before {
		if snapshot(t, dest)[name] != b {
			t.Errorf("%s rewritten by the second install", name)
		}
	}

	// A unit edited by hand is put back, and only it.
	edited := filepath.Join(dest, "council-pace.timer")
	if err := os.WriteFile(edited, []byte("[Timer]\nOnUnitActiveSec=1d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	third := run(t, environ, "install", "--bindir", bin)
	if third.Code != 0 || strings.Count(third.Stderr, "written ") != 1 || !strings.Contains(third.Stderr, "written "+edited) {
		t.Errorf("third install: exit %d, want only %s rewritten:\n%s", third.Code, edited, third.Stderr)
	}
	validateDir(t, h, dest, bin)

	n := len(calls(t, log))
	un := run(t, environ, "uninstall")
	if un.Code != 0 {
		t.Fatalf("uninstall exit %d\n%s%s", un.Code, un.Stdout, un.Stderr)
	}
	var wantUn []string
	for _, p := range suite.Probes {
		wantUn = append(wantUn, "--user disable --now "+units.TimerName(p))
		if p.At != nil {
			wantUn = append(wantUn, "--user clean --what=state "+units.TimerName(p))
		}
	}
	wantUn = append(wantUn, "--user daemon-reload")
	if got := calls(t, log)[n:]; !slices.Equal(got, wantUn) {
		t.Errorf("uninstall calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantUn, "\n"))
	}
	if entries, _ := os.ReadDir(dest); len(entries) != 0 {
		t.Errorf("uninstall left %v in %s", entries, dest)
	}

	n = len(calls(t, log))
	again := run(t, environ, "uninstall")
	if again.Code != 0 {
		t.Fatalf("second uninstall exit %d\n%s", again.Code, again.Stderr)
	}
	if got := calls(t, log)[n:]; !slices.Equal(got, []string{"--user daemon-reload"}) {
		t.Errorf("second uninstall calls %q, want only the reload", got)
	}
	if !strings.Contains(again.Stderr, "nothing to disable") {
		t.Errorf("second uninstall does not say why nothing was disabled:\n%s", again.Stderr)
	}
	if leaks := probetest.Leaks(h.Dir, first.Stdout, first.Stderr, second.Stderr, un.Stdout, un.Stderr); len(leaks) > 0 {
		t.Errorf("token leaked: %v", leaks)
	}
}

// TestInstallOneTimerFails: a timer systemd refuses does not stop the
// others; the exit is 1 and the error names it with systemctl's words.
func TestInstallOneTimerFails(t *testing.T) {
	h := probetest.NewHome(t)
	fake, log := fakeSystemctl(t)
	res := run(t, env(h, fake, "FAKE_SYSTEMCTL_FAIL=council-canary.timer"), "install", "--bindir", binDir(t))
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	if got := calls(t, log); !slices.Equal(got, installCalls()) {
		t.Errorf("calls:\n%s\nwant every timer tried", strings.Join(got, "\n"))
	}
	if !strings.Contains(res.Stderr, "systemctl --user enable --now council-canary.timer: exit 1: Failed to enable unit: Unit council-canary.timer is masked.") {
		t.Errorf("stderr does not name the failure:\n%s", res.Stderr)
	}
}

// TestUninstallKeepsUnitsWhenDisableFails: a timer that cannot be disabled
// keeps its files (removing them would leave its enablement behind, with
// nothing to read it from), and the others are still uninstalled.
func TestUninstallKeepsUnitsWhenDisableFails(t *testing.T) {
	h := probetest.NewHome(t)
	fake, _ := fakeSystemctl(t)
	dest := filepath.Join(h.Dir, ".config", "systemd", "user")
	if res := run(t, env(h, fake), "install", "--bindir", binDir(t)); res.Code != 0 {
		t.Fatalf("install exit %d\n%s", res.Code, res.Stderr)
	}
	res := run(t, env(h, fake, "FAKE_SYSTEMCTL_FAIL=council-drift.timer"), "uninstall")
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	var left []string
	entries, _ := os.ReadDir(dest)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{"council-drift.service", "council-drift.timer"}) {
		t.Errorf("left %q, want only drift's units", left)
	}
}

// TestInstallRefusals: nothing is written and nothing is run when the
// install could not work: units outside the user manager's directories,
// or probes that are not installed.
func TestInstallRefusals(t *testing.T) {
	h := probetest.NewHome(t)
	fake, log := fakeSystemctl(t)
	elsewhere := filepath.Join(t.TempDir(), "units")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"outside the search path", []string{"install", "--destdir", elsewhere, "--bindir", binDir(t)}, "not a directory the user manager reads units from"},
		{"binaries not installed", []string{"install", "--bindir", t.TempDir()}, "is not an installed executable file (run make install first)"},
		{"uninstall outside the search path", []string{"uninstall", "--destdir", elsewhere}, "not a directory the user manager reads units from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, env(h, fake), tt.args...)
			if res.Code != 1 || !strings.Contains(res.Stderr, tt.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s", res.Code, tt.want, res.Stderr)
			}
			if c := calls(t, log); c != nil {
				t.Errorf("systemctl was run: %q", c)
			}
			for _, d := range []string{elsewhere, filepath.Join(h.Dir, ".config")} {
				if _, err := os.Stat(d); !os.IsNotExist(err) {
					t.Errorf("%s was created", d)
				}
			}
		})
	}
}

// TestXDGConfigHome: with $XDG_CONFIG_HOME set, the user manager reads
// $XDG_CONFIG_HOME/systemd/user, and that is where the units go.
func TestXDGConfigHome(t *testing.T) {
	h := probetest.NewHome(t)
	fake, _ := fakeSystemctl(t)
	xdg := filepath.Join(t.TempDir(), "config")
	res := run(t, env(h, fake, "XDG_CONFIG_HOME="+xdg), "install", "--bindir", binDir(t))
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(xdg, "systemd", "user", "council-guardian.timer")); err != nil {
		t.Error(err)
	}
}

func TestUsage(t *testing.T) {
	h := probetest.NewHome(t)
	for _, args := range [][]string{{}, {"bogus"}, {"install", "extra"}, {"install", "--destdir", "relative"}, {"polkit", "--user", "neo"}} {
		if res := run(t, env(h, ""), args...); res.Code != 2 {
			t.Errorf("council-units %q: exit %d, want 2\n%s", args, res.Code, res.Stderr)
		}
	}
}

func TestNoSystemd(t *testing.T) {
	for _, tt := range []struct {
		goos string
		set  bool
		want bool
	}{{"linux", false, false}, {"darwin", false, true}, {"darwin", true, false}} {
		if got := units.NoSystemd(tt.goos, tt.set); got != tt.want {
			t.Errorf("NoSystemd(%s, %t) = %t", tt.goos, tt.set, got)
		}
	}
}

// TestPolkitCommand: the rule goes to stdout, or to --output with mode
// 0644, byte for byte the golden file; a bad name is bad usage and writes
// nothing.
func TestPolkitCommand(t *testing.T) {
	h := probetest.NewHome(t)
	want, err := os.ReadFile(filepath.Join("testdata", "polkit.rules.golden"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"polkit", "--primary", "ollama", "--fallback", "llama-fallback", "--user", "neo"}
	res := run(t, env(h, ""), args...)
	if res.Code != 0 || res.Stdout != string(want) {
		t.Errorf("exit %d, stdout is not the golden rule:\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	out := filepath.Join(t.TempDir(), units.PolkitFile)
	res = run(t, env(h, ""), append(args, "--output", out)...)
	got, err := os.ReadFile(out)
	if res.Code != 0 || err != nil || string(got) != string(want) || res.Stdout != "" {
		t.Errorf("--output: exit %d, %v, stdout %q\n%s", res.Code, err, res.Stdout, res.Stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("--output mode: %v, %v", fi, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.rules")
	res = run(t, env(h, ""), "polkit", "--primary", `x"y`, "--fallback", "f", "--user", "neo", "--output", bad)
	if res.Code != 2 || !strings.Contains(res.Stderr, `--primary: invalid name: "x\"y.service"`) {
		t.Errorf("a bad unit name: exit %d\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a refused rule was written: %v", err)
	}
	if res := run(t, env(h, ""), "doctor", "--user", "Not A User"); res.Code != 2 {
		t.Errorf("doctor with a bad user name: exit %d, want 2\n%s", res.Code, res.Stderr)
	}
}
