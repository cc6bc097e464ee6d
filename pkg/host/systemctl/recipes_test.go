package systemctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/testkit/gobuild"
	"github.com/sanctum/council-probes/pkg/testkit/systemdsim"
)

// The simulated systemd's commands (pkg/testkit/systemdsim), built once:
// the recipes run against real processes that a supervisor restarts.
var fakeSystemctl, fakeJournalctl string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "systemctl-test-")
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

// sim is one test's simulated systemd and the Runner that drives it.
type sim struct {
	t                 *testing.T
	dir, state, units string
	log, fallbackLock string
	remediationLock   string
	env               []string
	r                 *Runner
}

func newSim(t *testing.T, env ...string) *sim {
	dir := t.TempDir()
	s := &sim{t: t, dir: dir, state: filepath.Join(dir, "state.json"), units: filepath.Join(dir, "units"),
		log: filepath.Join(dir, "calls.log"), fallbackLock: filepath.Join(dir, "council-fallback.lock"),
		remediationLock: filepath.Join(dir, "council-remediation.lock")}
	os.MkdirAll(s.units, 0o755)
	s.env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), systemdsim.EnvState + "=" + s.state,
		systemdsim.EnvUnits + "=" + s.units, systemdsim.EnvLog + "=" + s.log}, env...)
	r := New(fakeSystemctl, fakeJournalctl, ScopeUser)
	r.Out = &bytes.Buffer{}
	r.VerifyTimeout, r.VerifyInterval = 5*time.Second, 20*time.Millisecond
	r.Exec = func(ctx context.Context, path string, args []string) ([]byte, int, error) {
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Env = s.env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, ee.ExitCode(), nil
		}
		return out, 0, err
	}
	r.ExecTail = func(ctx context.Context, path string, args []string, max int64) ([]byte, int, error) {
		return execTail(ctx, path, args, max, s.env)
	}
	s.r = r
	t.Cleanup(func() { systemdsim.Shutdown(s.state) })
	return s
}

// unit writes a unit file; the default is a server that runs until
// stopped, restarted by systemd when it dies.
func (s *sim) unit(name string, service ...string) {
	s.t.Helper()
	if len(service) == 0 {
		service = []string{"ExecStart=sleep 120", "Restart=always", "RestartSec=100ms"}
	}
	body := "[Unit]\nDescription=" + name + "\n[Service]\n" + strings.Join(service, "\n") + "\n[Install]\nWantedBy=default.target\n"
	if err := os.WriteFile(filepath.Join(s.units, name), []byte(body), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// sh runs the fake systemctl as an operator would.
func (s *sim) sh(args ...string) {
	s.t.Helper()
	cmd := exec.Command(fakeSystemctl, append([]string{"--user"}, args...)...)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("systemctl %v: %v\n%s", args, err, out)
	}
}

// calls are the mutating systemctl calls so far.
func (s *sim) calls() []string {
	b, _ := os.ReadFile(s.log)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "systemctl ") && !strings.Contains(l, " show ") {
			out = append(out, strings.TrimPrefix(l, "systemctl "))
		}
	}
	return out
}

// running is a verify: the unit runs a main process.
func (s *sim) running(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		u, err := s.r.Show(ctx, name)
		if err != nil {
			return err
		}
		if !u.Running() {
			return fmt.Errorf("%s is %s", name, u.State())
		}
		return nil
	}
}

func (s *sim) show(name string) *Unit {
	s.t.Helper()
	u, err := s.r.Show(context.Background(), name)
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

func (s *sim) await(name, what string, ok func(*Unit) bool) *Unit {
	s.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		u := s.show(name)
		if ok(u) {
			return u
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s never %s: %+v", name, what, u)
		}
	}
}

func TestRestartVerifies(t *testing.T) {
	s := newSim(t)
	s.unit("primary.service")
	s.sh("start", "primary.service")
	before := s.await("primary.service", "ran", (*Unit).Running)
	res, err := s.r.Restart(context.Background(), "primary", s.running("primary"))
	if err != nil || !res.Verified {
		t.Fatalf("%v %+v", err, res)
	}
	after := s.show("primary.service")
	if after.MainPID == before.MainPID || !after.Running() {
		t.Errorf("not restarted: %+v", after)
	}
	if got := s.calls(); !slices.Equal(got, []string{"--user start primary.service", "--user restart primary.service"}) {
		t.Errorf("calls %q", got)
	}
	if got := s.r.RestartCommand("primary"); got != fakeSystemctl+" --user restart primary.service" {
		t.Errorf("RestartCommand %q", got)
	}
}

// A unit systemd gave up on at its start limit refuses a restart until
// reset-failed: the recipe says so and clears it first.
func TestRestartClearsAStartLimit(t *testing.T) {
	s := newSim(t)
	s.unit("primary.service", "ExecStart=/bin/true", "Restart=always", "RestartSec=20ms")
	s.sh("start", "primary.service")
	s.await("primary.service", "hit its start limit", (*Unit).StartLimitHit)
	s.unit("primary.service") // fixed: it runs now
	res, err := s.r.Restart(context.Background(), "primary.service", s.running("primary"))
	if err != nil {
		t.Fatalf("%v\n%q", err, res.Steps)
	}
	calls := s.calls()
	if !slices.Equal(calls[len(calls)-2:], []string{"--user reset-failed primary.service", "--user restart primary.service"}) {
		t.Errorf("calls %q", calls)
	}
	if !strings.Contains(strings.Join(res.Steps, "\n"), "start-limit-hit") {
		t.Errorf("the steps do not say the start limit was hit: %q", res.Steps)
	}
}

// Without root or the polkit rule, systemd refuses: ErrNotPermitted, never
// a silent success.
func TestRestartNotPermitted(t *testing.T) {
	s := newSim(t, systemdsim.EnvFail+"=restart=denied")
	s.unit("primary.service")
	s.r.Scope = ScopeSystem
	_, err := s.r.Restart(context.Background(), "primary", s.running("primary"))
	if !errors.Is(err, service.ErrNotPermitted) || errors.Is(err, service.ErrUnverified) {
		t.Fatalf("%v", err)
	}
	if got := s.calls(); !slices.Equal(got, []string{"--system --no-ask-password restart primary.service"}) {
		t.Errorf("calls %q", got)
	}
}

// No systemctl, or no user manager: systemd cannot be asked.
func TestUnavailable(t *testing.T) {
	s := newSim(t, systemdsim.EnvFail+"=show=nobus")
	s.unit("primary.service")
	if _, err := s.r.Status(context.Background(), "primary"); !errors.Is(err, service.ErrUnavailable) {
		t.Errorf("no bus: %v", err)
	}
	s.r.Path = filepath.Join(s.dir, "no-systemctl-here")
	s.r.Exec = service.ExecCommand
	if _, err := s.r.Status(context.Background(), "primary"); !errors.Is(err, service.ErrUnavailable) {
		t.Errorf("no systemctl: %v", err)
	}
}

// The status maps onto what the probes use: MainPID is the pid,
// ExecMainStartTimestampMonotonic the start, NRestarts the restarts; the
// cause of a death is the properties' while the unit waits to restart,
// the journal's once Restart= has brought it back.
func TestStatusAndDeathCause(t *testing.T) {
	s := newSim(t)
	s.unit("primary.service", "ExecStart=sleep 120", "Restart=always", "RestartSec=700ms")
	s.unit("absent.service")
	os.Remove(filepath.Join(s.units, "absent.service"))
	ctx := context.Background()
	if _, err := s.r.Status(ctx, "absent"); !errors.Is(err, service.ErrNotLoaded) {
		t.Errorf("unknown unit: %v", err)
	}
	s.sh("start", "primary.service")
	st, err := s.r.Status(ctx, "primary")
	if err != nil || !st.Running() || st.PID <= 0 || st.Restarts != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	if age := time.Since(st.Started); st.Started.IsZero() || age < 0 || age > time.Minute {
		t.Errorf("started %v (%s ago)", st.Started, age)
	}
	since := time.Now().Add(-time.Minute)
	syscall.Kill(st.PID, syscall.SIGSEGV)
	s.await("primary.service", "waited to restart", (*Unit).WaitingToRestart)
	if c := s.r.DeathCause(ctx, "primary", nil, since); c.Exit != "signal 11 (SIGSEGV)" || c.Source != "systemd" {
		t.Errorf("while waiting: %+v", c)
	}
	s.await("primary.service", "was restarted", func(u *Unit) bool { return u.Running() && u.NRestarts == 1 })
	st, _ = s.r.Status(ctx, "primary")
	if st.LastExit != "" || st.Restarts != 1 {
		t.Errorf("after the restart: %+v", st)
	}
	if c := s.r.DeathCause(ctx, "primary", st, since); c.Exit != "signal 11 (SIGSEGV)" || c.Source != "journal" {
		t.Errorf("after the restart: %+v", c)
	}
	if c := s.r.DeathCause(ctx, "primary", st, time.Now().Add(time.Hour)); !c.Empty() {
		t.Errorf("a death before since counted: %+v", c)
	}
}

// Promotion: disable --now the primary, enable --now the fallback, each
// step recorded in the fallback lock; restore is the reverse and removes
// the lock.
func TestPromoteAndRestore(t *testing.T) {
	s := newSim(t)
	s.unit("primary.service")
	s.unit("fallback.service")
	s.sh("enable", "--now", "primary.service")
	ctx := context.Background()
	o := service.PromoteOpts{Primary: "primary", Fallback: "fallback", FallbackLockPath: s.fallbackLock,
		RemediationLockPath: s.remediationLock, Who: "test", Why: "binary missing", Verify: s.running("fallback")}
	res, err := s.r.PromoteFallback(ctx, o)
	if err != nil {
		t.Fatalf("%v\n%q", err, res.Steps)
	}
	want := []string{"--user enable --now primary.service", "--user disable --now primary.service", "--user enable --now fallback.service"}
	if got := s.calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if p, f := s.show("primary"), s.show("fallback"); p.Running() || p.Enabled() || !f.Running() || !f.Enabled() {
		t.Errorf("primary %+v\nfallback %+v", p, f)
	}
	lk, err := service.ReadFallbackLock(s.fallbackLock)
	if err != nil || !lk.Done() || lk.Primary != "primary.service" || lk.Fallback != "fallback.service" {
		t.Fatalf("lock %+v %v", lk, err)
	}
	if _, err := s.r.PromoteFallback(ctx, o); !errors.Is(err, service.ErrAlreadyOnFallback) {
		t.Errorf("second promotion: %v", err)
	}

	ro := service.RestoreOpts{Primary: "primary", Fallback: "fallback", FallbackLockPath: s.fallbackLock, RemediationLockPath: s.remediationLock,
		CheckPrimary: func(context.Context) error { return nil }, Verify: s.running("primary"), VerifyFallback: s.running("fallback")}
	res, err = s.r.RestorePrimary(ctx, ro)
	if err != nil {
		t.Fatalf("%v\n%q", err, res.Steps)
	}
	if p, f := s.show("primary"), s.show("fallback"); !p.Running() || !p.Enabled() || f.Running() || f.Enabled() {
		t.Errorf("after restore: primary %+v\nfallback %+v", p, f)
	}
	if _, err := os.Stat(s.fallbackLock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the fallback lock survived the restore: %v", err)
	}
}

// A restore whose primary does not serve is rolled back: the fallback
// serves again and the lock stays.
func TestRestoreRollsBack(t *testing.T) {
	s := newSim(t)
	s.unit("primary.service", "ExecStart=/bin/false") // still broken
	s.unit("fallback.service")
	s.sh("enable", "--now", "fallback.service")
	if err := service.WriteFallbackLock(s.fallbackLock, &service.FallbackLock{Who: "test", Step: service.StepDone}); err != nil {
		t.Fatal(err)
	}
	s.r.VerifyTimeout = time.Second
	// Type=simple: systemd says active/running the moment the process is
	// forked, /bin/false or not; what verifies a primary is that it
	// serves, which this one never does.
	notServing := func(context.Context) error { return errors.New("connection refused") }
	ro := service.RestoreOpts{Primary: "primary", Fallback: "fallback", FallbackLockPath: s.fallbackLock, RemediationLockPath: s.remediationLock,
		CheckPrimary: func(context.Context) error { return nil }, Verify: notServing, VerifyFallback: s.running("fallback")}
	res, err := s.r.RestorePrimary(context.Background(), ro)
	if !errors.Is(err, service.ErrRolledBack) || !res.RolledBack {
		t.Fatalf("%v\n%q", err, res.Steps)
	}
	if f := s.show("fallback"); !f.Running() || !f.Enabled() {
		t.Errorf("fallback after the rollback: %+v", f)
	}
	if _, err := os.Stat(s.fallbackLock); err != nil {
		t.Errorf("the lock went: %v", err)
	}
}

// A promotion cut short by a signal in the middle of a step lets that step
// finish, records it, and stops; the next tick's ResumePromotion runs the
// rest.
func TestPromotionInterruptedIsResumed(t *testing.T) {
	s := newSim(t, systemdsim.EnvPause+"=disable --now primary.service")
	s.unit("primary.service")
	s.unit("fallback.service")
	s.sh("enable", "--now", "primary.service")
	o := service.PromoteOpts{Primary: "primary", Fallback: "fallback", FallbackLockPath: s.fallbackLock,
		RemediationLockPath: s.remediationLock, Who: "test", Why: "binary missing", Verify: s.running("fallback")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.r.PromoteFallback(ctx, o); done <- err }()
	paused := systemdsim.PauseFile(s.state)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(paused); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the disable never started")
		}
	}
	cancel() // the signal, while systemctl runs the step
	os.Remove(paused)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted promotion: %v", err)
	}
	lk, err := service.ReadFallbackLock(s.fallbackLock)
	if err != nil || lk.Step != StepPrimaryDisabled {
		t.Fatalf("lock after the signal: %+v %v", lk, err)
	}
	res, err := s.r.ResumePromotion(context.Background(), o)
	if err != nil || res.ResumedAfter != StepPrimaryDisabled {
		t.Fatalf("resume: %v %+v", err, res)
	}
	if f := s.show("fallback"); !f.Running() {
		t.Errorf("fallback after the resume: %+v", f)
	}
	if lk, _ := service.ReadFallbackLock(s.fallbackLock); !lk.Done() || lk.ResumedBy != "test" {
		t.Errorf("lock after the resume: %+v", lk)
	}
}

// A dry run prints every command that would change systemd and runs only
// the questions.
func TestDryRun(t *testing.T) {
	s := newSim(t)
	s.unit("primary.service")
	s.unit("fallback.service")
	s.r.DryRun = true
	out := s.r.Out.(*bytes.Buffer)
	o := service.PromoteOpts{Primary: "primary", Fallback: "fallback", FallbackLockPath: s.fallbackLock,
		RemediationLockPath: s.remediationLock, Who: "test", Why: "x", Verify: s.running("fallback")}
	if _, err := s.r.PromoteFallback(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := s.r.Restart(context.Background(), "primary", s.running("primary")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dry-run: " + fakeSystemctl + " --user disable --now primary.service",
		"dry-run: " + fakeSystemctl + " --user enable --now fallback.service", "dry-run: " + fakeSystemctl + " --user restart primary.service"} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if got := s.calls(); len(got) != 0 {
		t.Errorf("a dry run changed systemd: %q", got)
	}
	if _, err := os.Stat(s.fallbackLock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dry run wrote the fallback lock")
	}
}

func TestLogTail(t *testing.T) {
	s := newSim(t)
	s.unit("primary.service", "ExecStart=/bin/sh -c 'i=0; while [ $$i -lt 300 ]; do echo line $$i; i=$$((i+1)); done; exec sleep 120'")
	s.sh("start", "primary.service")
	var tail []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if tail, err = s.r.LogTail(context.Background(), "primary", 100); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(tail, []byte("line 299\n")) || time.Now().After(deadline) {
			break
		}
	}
	// systemd's "Started" line may come before or after the unit's first
	// output, as on a real host: the tail is whole lines either way.
	first, _, _ := bytes.Cut(tail, []byte("\n"))
	if len(tail) > 100 || !bytes.Contains(tail, []byte("line 299\n")) || !bytes.HasSuffix(tail, []byte("\n")) ||
		!wholeLine.Match(first) {
		t.Errorf("tail %q: want the newest whole lines within 100 bytes", tail)
	}
}

var wholeLine = regexp.MustCompile(`^(line [0-9]+|Started primary\.service - primary\.service\.)$`)

// A restore systemd does not permit changes nothing: no rollback of a
// switch that never began, and the error says "not permitted".
func TestRestoreNotPermitted(t *testing.T) {
	s := newSim(t, systemdsim.EnvFail+"=disable=denied")
	s.unit("primary.service")
	s.unit("fallback.service")
	s.sh("enable", "--now", "fallback.service")
	service.WriteFallbackLock(s.fallbackLock, &service.FallbackLock{Who: "test", Step: service.StepDone})
	s.r.Scope = ScopeSystem
	ro := service.RestoreOpts{Primary: "primary", Fallback: "fallback", FallbackLockPath: s.fallbackLock, RemediationLockPath: s.remediationLock,
		CheckPrimary: func(context.Context) error { return nil }, Verify: s.running("primary"), VerifyFallback: s.running("fallback")}
	res, err := s.r.RestorePrimary(context.Background(), ro)
	if !errors.Is(err, service.ErrNotPermitted) || errors.Is(err, service.ErrRolledBack) || errors.Is(err, service.ErrRollbackFailed) {
		t.Fatalf("%v\n%q", err, res.Steps)
	}
	if got := s.calls(); !slices.Equal(got[1:], []string{"--system --no-ask-password disable --now fallback.service"}) {
		t.Errorf("calls %q", got)
	}
	if f := s.show("fallback"); !f.Running() {
		t.Errorf("the fallback stopped: %+v", f)
	}
}
