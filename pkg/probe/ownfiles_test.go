package probe

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/alert"
)

// layoutProbe is testProbe with the launchd layout flags and a URL flag of
// its own, as guardian and integrity have.
func layoutProbe() *Probe {
	p := testProbe(false)
	p.Layout = true
	p.Flags = append(p.Flags, &cli.StringFlag{Name: "fallback-url"})
	return p
}

func TestConfigFaultsAreUnknownAndSkipTheChecks(t *testing.T) {
	tests := []struct {
		name  string
		probe func() *Probe
		args  []string
		check string
	}{
		{"mtls-url over http", func() *Probe { return testProbe(true) }, []string{"--mtls-url", "http://127.0.0.1:1338"}, "transport"},
		{"mtls-url without scheme", func() *Probe { return testProbe(true) }, []string{"--mtls-url", "127.0.0.1:1338"}, "transport"},
		{"url without scheme", func() *Probe { return testProbe(true) }, []string{"--url", "localhost:1337"}, "transport"},
		{"alertmanager-url without scheme", func() *Probe { return testProbe(false) }, []string{"--alertmanager-url", "127.0.0.1:9093"}, "config"},
		{"a probe's own URL flag", layoutProbe, []string{"--fallback-url", "127.0.0.1:1337"}, "config"},
		{"primary label", layoutProbe, []string{"--primary-label", "-mlx"}, "config"},
		{"fallback label", layoutProbe, []string{"--fallback-label", "com.sanctum/server"}, "config"},
		{"label prefix", layoutProbe, []string{"--service-manager", "launchd", "--label-prefix", "com sanctum"}, "config"},
		{"service manager", layoutProbe, []string{"--service-manager", "upstart"}, "config"},
		{"scope", layoutProbe, []string{"--scope", "global"}, "config"},
		{"primary unit under systemd", layoutProbe, []string{"--service-manager", "systemd", "--primary-unit", "ollama service"}, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			code, out := e.run(t, tt.probe(), tt.args...)
			if code != ExitUnknown {
				t.Fatalf("exit %d, want 3: %s", code, out)
			}
			evs := e.events(t)
			ev := find(evs, tt.check+"_error")
			if ev == nil || ev["check"] != tt.check {
				t.Fatalf("no %s_error on %s: %v", tt.check, tt.check, evs)
			}
			if find(evs, "probe_ok") != nil {
				t.Fatalf("the checks ran despite the configuration fault")
			}
			if p := e.ff.payloads(); len(p) != 1 || !strings.Contains(p[0].Title, tt.check) {
				t.Fatalf("want one %s alert, got %+v", tt.check, p)
			}
		})
	}
}

func TestStateThatCannotBeSavedAlertsDirectly(t *testing.T) {
	e := newEnv(t)
	// A directory where the state file should be: it can be neither loaded
	// nor saved, for root too.
	os.MkdirAll(e.stateDir, 0o700)
	statePath := filepath.Join(e.stateDir, "council-testprobe.json")
	if err := os.Mkdir(statePath, 0o700); err != nil {
		t.Fatal(err)
	}
	code, out := e.run(t, testProbe(false))
	if code != ExitUnknown {
		t.Fatalf("exit %d, want 3: %s", code, out)
	}
	ev := find(e.events(t), "state_error")
	if ev == nil || ev["check"] != "state" {
		t.Fatalf("no state_error: %v", e.events(t))
	}
	if p := e.ff.payloads(); len(p) != 1 || p[0].Title != "council-testprobe: state" || p[0].Severity != alert.Error {
		t.Fatalf("want one state alert, got %+v", p)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "council-testprobe.outbox.json")); err == nil {
		t.Fatalf("the state alert was spooled")
	}
	if fi, err := os.Stat(statePath); err != nil || !fi.IsDir() {
		t.Fatalf("the unusable state path was replaced: %v", err)
	}
}

func TestUnopenableLogStillRunsTheTick(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(e.logFile, 0o700) // a directory where the log should be
	p := testProbe(false)
	code, out := e.run(t, p, "--outcome", "error")
	if code != ExitCritical {
		t.Fatalf("exit %d, want the check's 2: %s", code, out)
	}
	if !strings.Contains(out, "events go to stderr") || !strings.Contains(out, `"event":"probe_fail"`) {
		t.Fatalf("the events did not go to stderr: %s", out)
	}
	if !strings.Contains(out, "COUNCIL TESTPROBE CRITICAL") {
		t.Fatalf("no status line: %s", out)
	}
}

func TestFIFOStateDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(e.stateDir, 0o700)
	if err := syscall.Mkfifo(filepath.Join(e.stateDir, "council-testprobe.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { code, _ := e.run(t, testProbe(false)); done <- code }()
	select {
	case code := <-done:
		if code != ExitUnknown {
			t.Fatalf("exit %d, want 3", code)
		}
	case <-time.After(20 * time.Second): // a hang bound, not a timing assertion
		t.Fatal("the tick blocked on a FIFO state file")
	}
}

func TestStaleTempsRemoved(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(e.stateDir, 0o700)
	old := time.Now().Add(-time.Hour)
	stale := filepath.Join(e.stateDir, ".council-testprobe.json.tmp-42")
	os.WriteFile(stale, []byte("{"), 0o600)
	os.Chtimes(stale, old, old)
	if code, out := e.run(t, testProbe(false)); code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("the stale temp file is still there")
	}
	if find(e.events(t), "stale_temp_removed") == nil {
		t.Fatal("no stale_temp_removed event")
	}
}

func TestUnusableStateDirAlertsDirectly(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, e *env)
		want  string
	}{
		{"a file where the state dir should be", func(t *testing.T, e *env) {
			os.MkdirAll(filepath.Dir(e.stateDir), 0o700)
			os.WriteFile(e.stateDir, nil, 0o600)
		}, "state dir"},
		{"the lock is a symlink", func(t *testing.T, e *env) {
			os.MkdirAll(e.stateDir, 0o700)
			os.Symlink(filepath.Join(e.home, "elsewhere"), filepath.Join(e.stateDir, "council-testprobe.lock"))
		}, "symlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(t, e)
			code, out := e.run(t, testProbe(false))
			if code != ExitUnknown || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want 3 and %q on stderr: %s", code, tt.want, out)
			}
			if p := e.ff.payloads(); len(p) != 1 || p[0].Title != "council-testprobe: state" {
				t.Fatalf("want one state alert, got %+v", p)
			}
			if find(e.events(t), "probe_ok") != nil {
				t.Fatal("a check ran without the tick lock")
			}
		})
	}
}

func TestFixedConfigRecovers(t *testing.T) {
	e := newEnv(t)
	p := layoutProbe()
	if code, out := e.run(t, p, "--primary-label", "bad label"); code != ExitUnknown {
		t.Fatalf("exit %d: %s", code, out)
	}
	if code, out := e.run(t, layoutProbe()); code != ExitOK {
		t.Fatalf("exit %d after the fix: %s", code, out)
	}
	got := e.ff.payloads()
	if len(got) != 2 || got[1].Title != "council-testprobe: config recovered" {
		t.Fatalf("want the config alert then its recovery, got %+v", got)
	}
}

func TestFIFOConfigFileDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	conf := filepath.Join(e.home, "council-probes.conf")
	if err := syscall.Mkfifo(conf, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { code, _ := e.run(t, testProbe(false), "--config", conf); done <- code }()
	select {
	case code := <-done:
		if code != ExitUnknown {
			t.Fatalf("exit %d, want 3", code)
		}
	case <-time.After(20 * time.Second): // a hang bound, not a timing assertion
		t.Fatal("the probe blocked on a FIFO config file")
	}
}

func TestSymlinkedOutboxIsRefusedAndAlerted(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(e.stateDir, 0o700)
	target := filepath.Join(e.home, "elsewhere.json")
	os.WriteFile(target, []byte(`{"next_id":0,"entries":[]}`), 0o600)
	os.Symlink(target, filepath.Join(e.stateDir, "council-testprobe.outbox.json"))
	code, out := e.run(t, testProbe(false))
	if code != ExitUnknown || !strings.Contains(out, "symlink") {
		t.Fatalf("exit %d, want 3 and a clear error: %s", code, out)
	}
	if p := e.ff.payloads(); len(p) != 1 || p[0].Title != "council-testprobe: state" {
		t.Fatalf("want one state alert, got %+v", p)
	}
}
