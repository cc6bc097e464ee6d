package systemdsim

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/systemctl"
	"github.com/sanctum/council-probes/pkg/testkit/gobuild"
)

// The fake binaries, built once: units run under fake-systemctl as their
// supervisor, so the tests drive the real commands, as the probes do.
var fakeSystemctl, fakeJournalctl string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "systemdsim-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if fakeSystemctl, fakeJournalctl, err = gobuild.FakeSystemd(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// host is one test's simulated systemd.
type host struct {
	t     *testing.T
	state string
	units string
	log   string
	env   []string
}

func newHost(t *testing.T, extraEnv ...string) *host {
	dir := t.TempDir()
	h := &host{t: t, state: filepath.Join(dir, "state.json"), units: filepath.Join(dir, "units"), log: filepath.Join(dir, "calls.log")}
	if err := os.MkdirAll(h.units, 0o755); err != nil {
		t.Fatal(err)
	}
	h.env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), EnvState + "=" + h.state, EnvUnits + "=" + h.units, EnvLog + "=" + h.log}, extraEnv...)
	t.Cleanup(func() { Shutdown(h.state) })
	return h
}

func (h *host) unit(name string, lines ...string) {
	h.t.Helper()
	body := "[Unit]\nDescription=" + strings.TrimSuffix(name, ".service") + " under test\n[Service]\n" + strings.Join(lines, "\n") + "\n[Install]\nWantedBy=default.target\n"
	if err := os.WriteFile(filepath.Join(h.units, name), []byte(body), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) run(bin string, args ...string) (int, string, string) {
	h.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func (h *host) systemctl(args ...string) (int, string, string) {
	return h.run(fakeSystemctl, append([]string{"--user"}, args...)...)
}

// show parses show with the probes' own parser.
func (h *host) show(name string) *systemctl.Unit {
	h.t.Helper()
	code, out, stderr := h.systemctl("show", name, "-p", strings.Join(systemctl.ShowProperties, ","))
	if code != 0 {
		h.t.Fatalf("show %s: exit %d %s", name, code, stderr)
	}
	u, err := systemctl.ParseShow([]byte(out))
	if err != nil {
		h.t.Fatalf("show %s: %v\n%s", name, err, out)
	}
	return u
}

func (h *host) journal(name string) string {
	h.t.Helper()
	code, out, stderr := h.run(fakeJournalctl, "--user", "-u", name, "-o", "cat", "--no-pager", "-q")
	if code != 0 {
		h.t.Fatalf("journalctl: exit %d %s", code, stderr)
	}
	return out
}

// await polls show until ok says the unit is where the test waits for it.
func (h *host) await(name, what string, ok func(*systemctl.Unit) bool) *systemctl.Unit {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		u := h.show(name)
		if ok(u) {
			return u
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s never %s: %+v\njournal:\n%s", name, what, u, h.journal(name))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustOK(t *testing.T, code int, stderr string) {
	t.Helper()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// ok runs systemctl and fails the test unless it succeeds.
func (h *host) ok(args ...string) {
	h.t.Helper()
	code, _, stderr := h.systemctl(args...)
	mustOK(h.t, code, stderr)
}

// show prints key=value in systemd's own order, as a real systemd 252
// does (pkg/host/systemctl/testdata/show-*.txt).
func TestShowLikeSystemd(t *testing.T) {
	h := newHost(t)
	real, err := os.ReadFile("../../host/systemctl/testdata/show-not-found.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, out, _ := h.systemctl("show", "nosuch.service", "-p", strings.Join(systemctl.ShowProperties, ","))
	if out != string(real) {
		t.Errorf("show of an unknown unit:\n%s\nreal systemd:\n%s", out, real)
	}
	code, _, stderr := h.systemctl("restart", "nosuch")
	if code != 5 || stderr != "Failed to restart nosuch.service: Unit nosuch.service not found.\n" {
		t.Errorf("restart of an unknown unit: exit %d %q", code, stderr)
	}
}

// Restart=always brings a process killed by SIGSEGV back after RestartSec;
// NRestarts counts it, the properties say "success" again, and only the
// journal keeps the cause, in systemd's words.
func TestRestartAlwaysRespawnsAndTheJournalKeepsTheCause(t *testing.T) {
	h := newHost(t)
	h.unit("primary.service", "ExecStart=/bin/sh -c 'echo serving; exec sleep 60'", "Restart=always", "RestartSec=200ms")
	h.ok("start", "primary.service")
	first := h.await("primary.service", "ran", func(u *systemctl.Unit) bool { return u.Running() })
	if first.ExecMainStartMonotonic == 0 || first.NRestarts != 0 {
		t.Fatalf("first run: %+v", first)
	}
	syscall.Kill(first.MainPID, syscall.SIGSEGV)
	waiting := h.await("primary.service", "waited to restart", func(u *systemctl.Unit) bool { return u.WaitingToRestart() || u.NRestarts == 1 })
	if waiting.WaitingToRestart() && waiting.ExitCause() != "signal 11 (SIGSEGV)" {
		t.Errorf("while waiting to restart, the properties say %q", waiting.ExitCause())
	}
	again := h.await("primary.service", "was restarted", func(u *systemctl.Unit) bool { return u.Running() && u.NRestarts == 1 })
	if again.MainPID == first.MainPID || again.Result != "success" || again.ExitCause() != "" {
		t.Errorf("after the restart: %+v", again)
	}
	j := h.journal("primary.service")
	for _, want := range []string{"serving", "primary.service: Main process exited, code=killed, status=11/SEGV",
		"primary.service: Failed with result 'signal'.", "primary.service: Scheduled restart job, restart counter is at 1.",
		"Started primary.service - primary under test."} {
		if !strings.Contains(j, want+"\n") {
			t.Errorf("journal lacks %q:\n%s", want, j)
		}
	}
	if c := systemctl.ParseJournal([]byte(j)); c.Exit != "signal 11 (SIGSEGV)" || c.Result != "signal" {
		t.Errorf("the probes read the cause as %+v", c)
	}
}

// Restart=no: a death by signal leaves the unit failed, Result=signal,
// ExecMainCode 2 (killed), ExecMainStatus the signal.
func TestDeathBySignalWithoutRestart(t *testing.T) {
	h := newHost(t)
	h.unit("once.service", "ExecStart=sleep 60")
	h.ok("start", "once")
	u := h.await("once.service", "ran", func(u *systemctl.Unit) bool { return u.Running() })
	syscall.Kill(u.MainPID, syscall.SIGABRT)
	u = h.await("once.service", "failed", func(u *systemctl.Unit) bool { return u.Failed() })
	if u.Result != "signal" || u.ExecMainCode != 2 || u.ExecMainStatus != 6 || u.ExitCause() != "signal 6 (SIGABRT)" {
		t.Errorf("%+v", u)
	}
}

// The start limit (5 starts in 10 s by default): a crash loop ends failed
// with its crash's Result; a unit that exits 0 and is restarted ends in
// start-limit-hit; a start by hand is refused with systemctl's message
// until reset-failed.
func TestStartLimit(t *testing.T) {
	h := newHost(t)
	h.unit("loop.service", "ExecStart=/bin/false", "Restart=always", "RestartSec=50ms")
	h.unit("flap.service", "ExecStart=/bin/true", "Restart=always", "RestartSec=50ms")
	for _, n := range []string{"loop", "flap"} {
		h.systemctl("start", n)
	}
	loop := h.await("loop.service", "failed", func(u *systemctl.Unit) bool { return u.Failed() })
	flap := h.await("flap.service", "failed", func(u *systemctl.Unit) bool { return u.Failed() })
	if loop.Result != "exit-code" || loop.NRestarts != 5 || loop.StartLimitHit() {
		t.Errorf("crash loop: %+v", loop)
	}
	if flap.Result != "start-limit-hit" || flap.NRestarts != 5 || !flap.StartLimitHit() {
		t.Errorf("flapping unit: %+v", flap)
	}
	if c := systemctl.ParseJournal([]byte(h.journal("loop.service"))); !c.StartLimitHit || c.Exit != "exit code 1" {
		t.Errorf("crash loop journal read as %+v", c)
	}
	code, _, stderr := h.systemctl("restart", "flap.service")
	if code != 1 || !strings.Contains(stderr, "start of the service was attempted too often") {
		t.Errorf("restart at the start limit: exit %d %q", code, stderr)
	}
	h.ok("reset-failed", "flap.service")
	if u := h.show("flap.service"); u.Failed() || u.NRestarts != 0 || u.Result != "success" {
		t.Errorf("after reset-failed: %+v", u)
	}
	h.unit("flap.service", "ExecStart=sleep 60")
	h.ok("start", "flap.service")
	h.await("flap.service", "ran after reset-failed", func(u *systemctl.Unit) bool { return u.Running() })
}

// enable --now links the unit and starts it; disable --now unlinks and
// stops it, cleanly; a reboot starts what is enabled and nothing else.
func TestEnableDisableNowAndReboot(t *testing.T) {
	h := newHost(t)
	h.unit("primary.service", "ExecStart=sleep 60", "Restart=always")
	h.unit("fallback.service", "ExecStart=sleep 60", "Restart=always")
	if u := h.show("fallback.service"); u.UnitFileState != "disabled" || !u.Loaded() {
		t.Fatalf("a unit with [Install] not linked: %+v", u)
	}
	code, _, stderr := h.systemctl("enable", "--now", "primary.service")
	mustOK(t, code, stderr)
	if !strings.HasPrefix(stderr, "Created symlink ") {
		t.Errorf("enable said %q", stderr)
	}
	p := h.await("primary.service", "ran", func(u *systemctl.Unit) bool { return u.Running() })
	if !p.Enabled() {
		t.Errorf("enabled unit reads %q", p.UnitFileState)
	}
	code, _, stderr = h.systemctl("disable", "--now", "primary.service")
	mustOK(t, code, stderr)
	p = h.show("primary.service")
	if p.Running() || p.Enabled() || p.Result != "success" || p.ActiveState != "inactive" {
		t.Errorf("after disable --now: %+v", p)
	}
	h.systemctl("enable", "--now", "fallback.service")
	h.await("fallback.service", "ran", func(u *systemctl.Unit) bool { return u.Running() })
	if err := Reboot(h.state, h.units, fakeSystemctl); err != nil {
		t.Fatal(err)
	}
	if u := h.show("primary.service"); u.Running() {
		t.Errorf("a disabled unit started at boot: %+v", u)
	}
	h.await("fallback.service", "started at boot", func(u *systemctl.Unit) bool { return u.Running() })
}

// Injected refusals read as what they stand for: polkit's "Access denied"
// (exit 4), no user manager ("Failed to connect to bus").
func TestInjectedFailures(t *testing.T) {
	h := newHost(t, EnvFail+"=restart:primary.service=denied,show=nobus-once")
	h.unit("primary.service", "ExecStart=sleep 60")
	code, _, stderr := h.systemctl("restart", "primary")
	if code != 4 || stderr != "Failed to restart primary.service: Access denied\n" {
		t.Errorf("denied restart: exit %d %q", code, stderr)
	}
	code, _, stderr = h.systemctl("show", "primary.service")
	if code != 1 || stderr != "Failed to connect to bus: No medium found\n" {
		t.Errorf("no bus: exit %d %q", code, stderr)
	}
	if u := h.show("primary.service"); !u.Loaded() {
		t.Errorf("a -once injection fired twice")
	}
	calls, _ := os.ReadFile(h.log)
	if !strings.Contains(string(calls), "systemctl --user restart primary\n") {
		t.Errorf("the call log lacks the restart:\n%s", calls)
	}
}

// A started timer waits for its next run: active/waiting, no process.
func TestTimerWaits(t *testing.T) {
	h := newHost(t)
	body := "[Unit]\nDescription=council-canary timer\n[Timer]\nOnUnitActiveSec=10min\n[Install]\nWantedBy=timers.target\n"
	os.WriteFile(filepath.Join(h.units, "council-canary.timer"), []byte(body), 0o644)
	if u := h.show("council-canary.timer"); !u.Loaded() || u.Active() {
		t.Fatalf("before start: %+v", u)
	}
	h.ok("start", "council-canary.timer")
	if u := h.show("council-canary.timer"); u.State() != "active/waiting" || u.MainPID != 0 || !u.Active() {
		t.Errorf("started timer: %+v", u)
	}
	h.ok("stop", "council-canary.timer")
	if u := h.show("council-canary.timer"); u.Active() {
		t.Errorf("stopped timer: %+v", u)
	}
}
