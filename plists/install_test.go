package plists_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/launchdsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/plists"
)

var plistsBin, fakeLaunchctl string

// TestMain builds the real council-plists binary and the fake launchctl
// once; the end-to-end tests run them.
func TestMain(m *testing.M) {
	probetest.RunMain(m,
		probetest.Binary{Out: &plistsBin, Pkg: "./cmd/council-plists", Name: "council-plists"},
		probetest.FakeLaunchctl(&fakeLaunchctl))
}

var labels = func() []string {
	var out []string
	for _, p := range suite.Probes {
		out = append(out, "com.sanctum."+p.Binary())
	}
	return out
}()

var uid = strconv.Itoa(os.Getuid())

// env is a clean environment for council-plists: HOME is the test home,
// PATH has no plutil (unless a test puts a fake first).
func env(h *probetest.Home, extra ...string) []string {
	return h.Env(extra...)
}

func run(t *testing.T, environ []string, args ...string) probetest.Result {
	t.Helper()
	return probetest.Run(t, 60*time.Second, environ, plistsBin, args...)
}

// fakeBinDir installs a tiny council-<name> script per probe that prints
// one line and exits, so the fake launchd really runs something short.
func fakeBinDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range suite.Probes {
		script := "#!/bin/sh\necho \"tick $0 $*\"\n"
		if err := os.WriteFile(filepath.Join(dir, p.Binary()), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// reloadCalls is the Reload recipe's launchctl sequence for every probe.
func reloadCalls(dest string) []string {
	var out []string
	for _, l := range labels {
		out = append(out,
			"bootout gui/"+uid+"/"+l,
			"bootstrap gui/"+uid+" "+filepath.Join(dest, l+".plist"),
			"kickstart -k gui/"+uid+"/"+l)
	}
	return out
}

type fileID struct {
	ino   uint64
	mtime time.Time
	data  string
}

func snapshot(t *testing.T, dir string) map[string]fileID {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fileID{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(p)
		out[e.Name()] = fileID{ino: fi.Sys().(*syscall.Stat_t).Ino, mtime: fi.ModTime(), data: string(data)}
	}
	return out
}

// validateDir checks that dest holds exactly the probe plists (plus
// extra), each valid for home h and bindir bin.
func validateDir(t *testing.T, h *probetest.Home, dest, bin string, extra ...string) {
	t.Helper()
	cfg, err := plists.Config{Home: h.Dir, BinDir: bin}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range suite.Probes {
		job := cfg.ProbeJob(p)
		names = append(names, job.FileName())
		data, err := os.ReadFile(filepath.Join(dest, job.FileName()))
		if err != nil {
			t.Fatal(err)
		}
		if err := plists.Validate(plists.Rendered{Job: job, Data: data}, nil); err != nil {
			t.Errorf("installed plist invalid: %v", err)
		}
		if fi, _ := os.Stat(filepath.Join(dest, job.FileName())); fi.Mode().Perm() != plists.PlistMode {
			t.Errorf("%s mode %v, want %v", job.FileName(), fi.Mode().Perm(), plists.PlistMode)
		}
	}
	names = append(names, extra...)
	var got []string
	entries, _ := os.ReadDir(dest)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dest, got, names)
	}
}

func TestInstallDryRunTwice(t *testing.T) {
	h := probetest.NewHome(t).WithToken(0o600)
	dest := filepath.Join(t.TempDir(), "LaunchAgents")
	args := []string{"install", "--destdir", dest, "--dry-run"}

	first := run(t, env(h), args...)
	if first.Code != 0 {
		t.Fatalf("exit %d\n%s%s", first.Code, first.Stdout, first.Stderr)
	}
	var want strings.Builder
	for _, c := range reloadCalls(dest) {
		want.WriteString("dry-run: launchctl " + c + "\n")
	}
	if first.Stdout != want.String() {
		t.Errorf("stdout is not the exact launchctl sequence:\n--- got\n%s--- want\n%s", first.Stdout, want.String())
	}
	if n := strings.Count(first.Stderr, "written "); n != len(suite.Probes) {
		t.Errorf("first run wrote %d files, want %d:\n%s", n, len(suite.Probes), first.Stderr)
	}
	validateDir(t, h, dest, "")
	before := snapshot(t, dest)

	second := run(t, env(h), args...)
	if second.Code != 0 {
		t.Fatalf("second run exit %d\n%s", second.Code, second.Stderr)
	}
	if second.Stdout != first.Stdout {
		t.Errorf("second run printed a different sequence:\n%s", second.Stdout)
	}
	if n := strings.Count(second.Stderr, "unchanged "); n != len(suite.Probes) {
		t.Errorf("second run: %d unchanged, want %d:\n%s", n, len(suite.Probes), second.Stderr)
	}
	after := snapshot(t, dest)
	for name, b := range before {
		if after[name] != b {
			t.Errorf("%s was rewritten by an idempotent run", name)
		}
	}
	if leaks := probetest.Leaks(h.Dir, first.Stdout, first.Stderr); len(leaks) > 0 {
		t.Errorf("token leaked: %v", leaks)
	}
	if leaks := probetest.Leaks(dest); len(leaks) > 0 {
		t.Errorf("token leaked into %v", leaks)
	}
}

func TestNoLaunchdPrintsInsteadOfRunning(t *testing.T) {
	if !plists.NoLaunchd(runtime.GOOS, false) {
		t.Skip("this system has launchd")
	}
	h := probetest.NewHome(t)
	dest := t.TempDir()
	res := run(t, env(h), "install", "--destdir", dest)
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "no launchd on "+runtime.GOOS) {
		t.Errorf("no notice that launchctl is not run:\n%s", res.Stderr)
	}
	dry := run(t, env(h), "install", "--destdir", dest, "--dry-run")
	if res.Stdout != dry.Stdout || !strings.HasPrefix(res.Stdout, "dry-run: launchctl bootout ") {
		t.Errorf("stdout differs from --dry-run's:\n%s\n---\n%s", res.Stdout, dry.Stdout)
	}
}

func TestInstallDryRunMissingLogDir(t *testing.T) {
	h := probetest.NewHome(t)
	logs := filepath.Join(h.Dir, "elsewhere", "logs")
	res := run(t, env(h), "install", "--destdir", t.TempDir(), "--dry-run", "--log-dir", logs)
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	if first := strings.SplitN(res.Stdout, "\n", 2)[0]; first != "dry-run: mkdir -p -m 0700 "+logs {
		t.Errorf("first line %q, want the mkdir of the log dir", first)
	}
	if _, err := os.Stat(logs); !os.IsNotExist(err) {
		t.Errorf("dry-run created the log dir: %v", err)
	}
}

func loaded(t *testing.T, ld *probetest.Launchd) map[string]*launchdsim.Service {
	t.Helper()
	st, err := launchdsim.ReadState(ld.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	return st.Services
}

// TestInstallAgainstFakeLaunchd installs twice: the second install of
// already-loaded labels must take the bootout-then-bootstrap path and
// succeed, leaving the files untouched.
func TestInstallAgainstFakeLaunchd(t *testing.T) {
	h := probetest.NewHome(t).WithToken(0o600)
	ld := probetest.NewLaunchd(t, fakeLaunchctl)
	dest := filepath.Join(h.Dir, "Library", "LaunchAgents")
	bin := fakeBinDir(t)
	environ := env(h, ld.Env()...)

	first := run(t, environ, "install", "--bindir", bin)
	if first.Code != 0 {
		t.Fatalf("first install exit %d\n%s%s", first.Code, first.Stdout, first.Stderr)
	}
	if got := ld.MutatingCalls(); !slices.Equal(got, reloadCalls(dest)) {
		t.Fatalf("first install calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(reloadCalls(dest), "\n"))
	}
	if n := strings.Count(first.Stdout, ": not loaded"); n != len(suite.Probes) {
		t.Errorf("first install: %d 'not loaded' bootouts tolerated, want %d:\n%s", n, len(suite.Probes), first.Stdout)
	}
	validateDir(t, h, dest, bin)
	before := snapshot(t, dest)
	for _, l := range labels {
		if loaded(t, ld)[l] == nil {
			t.Errorf("%s not loaded after install", l)
		}
	}

	nFirst := len(ld.Calls())
	second := run(t, environ, "install", "--bindir", bin)
	if second.Code != 0 {
		t.Fatalf("second install exit %d\n%s%s", second.Code, second.Stdout, second.Stderr)
	}
	if got := ld.Calls()[nFirst:]; !slices.Equal(got, reloadCalls(dest)) {
		t.Errorf("second install calls:\n%s\nwant bootout, bootstrap, kickstart -k per label", strings.Join(got, "\n"))
	}
	if strings.Contains(second.Stdout, "not loaded") || strings.Contains(second.Stdout, "input/output error") {
		t.Errorf("second install: a loaded label was not booted out cleanly:\n%s", second.Stdout)
	}
	if n := strings.Count(second.Stderr, "loaded com.sanctum."); n != len(suite.Probes) {
		t.Errorf("second install reported %d loaded, want %d:\n%s", n, len(suite.Probes), second.Stderr)
	}
	for name, b := range before {
		if snapshot(t, dest)[name] != b {
			t.Errorf("%s rewritten by the second install", name)
		}
	}
	for _, l := range labels {
		if svc := loaded(t, ld)[l]; svc == nil || svc.Runs < 1 {
			t.Errorf("%s: loaded %v, want loaded and started by kickstart", l, svc)
		}
	}
	// launchd really ran the installed program with its output in the log dir.
	out := filepath.Join(h.LogDir, "council-guardian.out")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "tick "+filepath.Join(bin, "council-guardian")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never got the program's output: %q", out, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if leaks := probetest.Leaks(h.Dir, first.Stdout, first.Stderr, second.Stdout, second.Stderr); len(leaks) > 0 {
		t.Errorf("token leaked: %v", leaks)
	}
}

func TestInstallRecoversFromIOError(t *testing.T) {
	h := probetest.NewHome(t)
	ld := probetest.NewLaunchd(t, fakeLaunchctl)
	dest := t.TempDir()
	canary := "com.sanctum.council-canary"
	environ := env(h, append(ld.Env(), launchdsim.EnvFail+"=bootstrap:"+canary+"=eio-once")...)
	res := run(t, environ, "install", "--destdir", dest, "--bindir", fakeBinDir(t))
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	var got []string
	for _, c := range ld.MutatingCalls() {
		if strings.Contains(c, canary) {
			got = append(got, strings.Fields(c)[0])
		}
	}
	want := []string{"bootout", "bootstrap", "bootout", "bootstrap", "kickstart"}
	if !slices.Equal(got, want) {
		t.Errorf("canary calls %q, want %q", got, want)
	}
	if loaded(t, ld)[canary] == nil {
		t.Error("canary not loaded after the EIO recovery")
	}
}

func TestInstallContinuesPastOneFailure(t *testing.T) {
	h := probetest.NewHome(t)
	ld := probetest.NewLaunchd(t, fakeLaunchctl)
	canary := "com.sanctum.council-canary"
	environ := env(h, append(ld.Env(), launchdsim.EnvFail+"=bootstrap:"+canary+"=eperm")...)
	res := run(t, environ, "install", "--destdir", t.TempDir(), "--bindir", fakeBinDir(t))
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "reload "+canary) || !strings.Contains(res.Stderr, "Operation not permitted") {
		t.Errorf("stderr does not name the failure:\n%s", res.Stderr)
	}
	svcs := loaded(t, ld)
	for _, l := range labels {
		if (svcs[l] == nil) != (l == canary) {
			t.Errorf("%s loaded=%t", l, svcs[l] != nil)
		}
	}
}

func TestInstallRefusesMissingBinaries(t *testing.T) {
	h := probetest.NewHome(t)
	ld := probetest.NewLaunchd(t, fakeLaunchctl)
	dest := filepath.Join(t.TempDir(), "LaunchAgents")
	bin := fakeBinDir(t)
	os.Chmod(filepath.Join(bin, "council-drift"), 0o644)
	os.Remove(filepath.Join(bin, "council-integrity"))
	res := run(t, env(h, ld.Env()...), "install", "--destdir", dest, "--bindir", bin)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	for _, want := range []string{"council-drift", "not an executable", "council-integrity", "make install"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
		}
	}
	if calls := ld.Calls(); len(calls) != 0 {
		t.Errorf("launchctl ran: %q", calls)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("files written although install refused: %v", err)
	}
}

func TestUninstall(t *testing.T) {
	h := probetest.NewHome(t)
	ld := probetest.NewLaunchd(t, fakeLaunchctl)
	dest := t.TempDir()
	environ := env(h, ld.Env()...)
	if res := run(t, environ, "install", "--destdir", dest, "--bindir", fakeBinDir(t), "--with-fallback"); res.Code != 0 {
		t.Fatalf("install exit %d\n%s", res.Code, res.Stderr)
	}
	n := len(ld.Calls())

	res := run(t, environ, "uninstall", "--destdir", dest)
	if res.Code != 0 {
		t.Fatalf("uninstall exit %d\n%s", res.Code, res.Stderr)
	}
	var want []string
	for _, l := range labels {
		want = append(want, "bootout gui/"+uid+"/"+l)
	}
	if got := ld.Calls()[n:]; !slices.Equal(got, want) {
		t.Errorf("uninstall calls %q, want %q", got, want)
	}
	if svcs := loaded(t, ld); len(svcs) != 0 {
		t.Errorf("still loaded: %v", svcs)
	}
	entries, _ := os.ReadDir(dest)
	if len(entries) != 1 || entries[0].Name() != "com.sanctum.server-mlx.plist" {
		t.Errorf("after uninstall %s holds %v, want only the fallback plist", dest, entries)
	}

	again := run(t, environ, "uninstall", "--destdir", dest)
	if again.Code != 0 {
		t.Fatalf("second uninstall exit %d\n%s", again.Code, again.Stderr)
	}
	if strings.Count(again.Stderr, ": not loaded") != len(suite.Probes) || strings.Count(again.Stderr, "missing ") != len(suite.Probes) {
		t.Errorf("second uninstall should tolerate not loaded and missing:\n%s", again.Stderr)
	}
}

func TestUninstallDryRunChangesNothing(t *testing.T) {
	h := probetest.NewHome(t)
	dest := t.TempDir()
	if res := run(t, env(h), "render", "--destdir", dest); res.Code != 0 {
		t.Fatalf("render exit %d\n%s", res.Code, res.Stderr)
	}
	before := snapshot(t, dest)
	res := run(t, env(h), "uninstall", "--destdir", dest, "--dry-run")
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	var want strings.Builder
	for _, l := range labels {
		fmt.Fprintf(&want, "dry-run: launchctl bootout gui/%s/%s\ndry-run: rm -f %s\n", uid, l, filepath.Join(dest, l+".plist"))
	}
	if res.Stdout != want.String() {
		t.Errorf("stdout:\n%s\nwant:\n%s", res.Stdout, want.String())
	}
	if len(snapshot(t, dest)) != len(before) {
		t.Error("dry-run uninstall removed files")
	}
}

// TestFallbackNeverLoaded: --with-fallback writes the fallback plist with
// its discipline and hands it to launchctl only to disable its label (see
// fallback_test.go); an operator's own differing fallback plist is kept
// and nothing is written.
func TestFallbackNeverLoaded(t *testing.T) {
	h := probetest.NewHome(t)
	ld := probetest.NewLaunchd(t, fakeLaunchctl)
	dest := t.TempDir()
	environ := env(h, ld.Env()...)
	bin := fakeBinDir(t)
	res := run(t, environ, "install", "--destdir", dest, "--bindir", bin, "--with-fallback")
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	for _, c := range ld.Calls() {
		if strings.Contains(c, "server-mlx") && c != "disable gui/"+uid+"/com.sanctum.server-mlx" {
			t.Errorf("launchctl was asked about the fallback for more than its disable: %q", c)
		}
	}
	fb := filepath.Join(dest, "com.sanctum.server-mlx.plist")
	cfg, _ := plists.Config{Home: h.Dir}.Resolve()
	data, err := os.ReadFile(fb)
	if err != nil {
		t.Fatal(err)
	}
	if err := plists.Validate(plists.Rendered{Job: cfg.FallbackJob(), Data: data}, nil); err != nil {
		t.Errorf("fallback plist invalid: %v", err)
	}
	if !strings.Contains(res.Stderr, "not loading com.sanctum.server-mlx") {
		t.Errorf("no note that the fallback is not loaded:\n%s", res.Stderr)
	}

	own := strings.Replace(string(data), "mlx_lm.server", "my_own.server", 1)
	os.WriteFile(fb, []byte(own), 0o644)
	os.Remove(filepath.Join(dest, "com.sanctum.council-guardian.plist"))
	n := len(ld.Calls())
	res = run(t, environ, "install", "--destdir", dest, "--bindir", bin, "--with-fallback")
	if res.Code != 1 || !strings.Contains(res.Stderr, "differs from the template (kept)") {
		t.Fatalf("exit %d, want 1 with the fallback kept\n%s", res.Code, res.Stderr)
	}
	if b, _ := os.ReadFile(fb); string(b) != own {
		t.Error("the operator's fallback plist was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dest, "com.sanctum.council-guardian.plist")); !os.IsNotExist(err) {
		t.Error("probe plists written although the install was refused")
	}
	if len(ld.Calls()) != n {
		t.Errorf("launchctl ran: %q", ld.Calls()[n:])
	}
}

func TestSecretRefused(t *testing.T) {
	h := probetest.NewHome(t).WithToken(0o600)
	dest := filepath.Join(h.Dir, "Library", "LaunchAgents")
	res := run(t, env(h), "install", "--destdir", dest, "--dry-run", "--with-fallback",
		"--fallback-arg", "/usr/local/bin/server", "--fallback-arg", "--api-key="+probetest.PlantedToken)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "contains the bearer token in "+h.TokenFile()) {
		t.Errorf("stderr does not say why:\n%s", res.Stderr)
	}
	if leaks := probetest.Leaks(h.Dir, res.Stdout, res.Stderr); len(leaks) > 0 {
		t.Errorf("token leaked: %v", leaks)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("files written although validation failed: %v", err)
	}
}

func TestModeFixed(t *testing.T) {
	h := probetest.NewHome(t)
	dest := t.TempDir()
	if res := run(t, env(h), "render", "--destdir", dest); res.Code != 0 {
		t.Fatalf("render exit %d\n%s", res.Code, res.Stderr)
	}
	p := filepath.Join(dest, "com.sanctum.council-drift.plist")
	os.Chmod(p, 0o666)
	res := run(t, env(h), "render", "--destdir", dest)
	if res.Code != 0 || !strings.Contains(res.Stderr, "mode fixed "+p) {
		t.Fatalf("exit %d, want the mode fixed:\n%s", res.Code, res.Stderr)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != plists.PlistMode {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

// TestPlutilLint puts a fake plutil first on PATH: it must be run on each
// rendered plist, and its refusal must stop the install before any file
// is written.
func TestPlutilLint(t *testing.T) {
	tests := []struct {
		name string
		exit int
		code int
	}{
		{"lint passes", 0, 0},
		{"lint fails", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := probetest.NewHome(t)
			tools := t.TempDir()
			calls := filepath.Join(tools, "calls")
			script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\necho \"$2: bad\"\nexit %d\n", calls, tt.exit)
			os.WriteFile(filepath.Join(tools, "plutil"), []byte(script), 0o755)
			dest := filepath.Join(t.TempDir(), "LaunchAgents")
			environ := []string{"HOME=" + h.Dir, "PATH=" + tools + ":" + os.Getenv("PATH")}
			res := run(t, environ, "install", "--destdir", dest, "--dry-run")
			if res.Code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", res.Code, tt.code, res.Stderr)
			}
			b, _ := os.ReadFile(calls)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			wantCalls := len(suite.Probes)
			if tt.exit != 0 {
				wantCalls = 1 // the first refusal stops it
			}
			if len(lines) != wantCalls || !strings.HasPrefix(lines[0], "-lint ") || !strings.HasSuffix(lines[0], "/com.sanctum.council-guardian.plist") {
				t.Errorf("plutil calls %q, want %d of -lint <plist>", lines, wantCalls)
			}
			_, err := os.Stat(dest)
			if tt.exit != 0 && !os.IsNotExist(err) {
				t.Errorf("files written although lint failed")
			}
			if tt.exit == 0 && !strings.Contains(res.Stderr, fmt.Sprintf("plutil -lint passed for %d plists", len(suite.Probes))) {
				t.Errorf("no lint report:\n%s", res.Stderr)
			}
			if tt.exit != 0 && !strings.Contains(res.Stderr, "plutil -lint") {
				t.Errorf("lint failure not reported:\n%s", res.Stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	h := probetest.NewHome(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"relative bindir", []string{"install", "--dry-run", "--bindir", "bin"}, "must be absolute"},
		{"bad label prefix", []string{"install", "--dry-run", "--label-prefix", "-com.x"}, "--label-prefix"},
		{"stray argument", []string{"install", "--dry-run", "guardian"}, "unexpected arguments"},
		{"unknown flag", []string{"install", "--dry-run", "--nope"}, "flag provided but not defined"},
		{"relative fallback lock", []string{"install", "--dry-run", "--with-fallback", "--fallback-lock", "state/lock"}, "--fallback-lock"},
		{"unknown command", []string{"reinstall"}, `unknown command "reinstall"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, env(h), append(tt.args, "--destdir", t.TempDir())...)
			if res.Code != 2 || !strings.Contains(res.Stderr, tt.want) {
				t.Errorf("exit %d, want 2 with %q\n%s", res.Code, tt.want, res.Stderr)
			}
		})
	}
}
