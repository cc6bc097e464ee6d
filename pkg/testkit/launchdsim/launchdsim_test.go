package launchdsim

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"howett.net/plist"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMainNeedsState(t *testing.T) {
	t.Setenv(EnvState, "")
	if code, _, stderr := run(t, "print-disabled", "gui/501"); code != 64 || stderr == "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestInjectedFailuresAndPrintDisabledFormat(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvState, filepath.Join(dir, "state.json"))
	t.Setenv(EnvLog, "")
	t.Setenv(EnvFail, "disable:com.a=eperm-once,enable=eio")

	if code, _, _ := run(t, "disable", "gui/501/com.b"); code != 0 {
		t.Fatalf("label-scoped injection hit another label: exit %d", code)
	}
	if code, _, stderr := run(t, "disable", "gui/501/com.a"); code != 1 || stderr != "Could not disable service: 1: Operation not permitted\n" {
		t.Fatalf("first disable: exit %d %q", code, stderr)
	}
	if code, _, stderr := run(t, "disable", "gui/501/com.a"); code != 0 {
		t.Fatalf("once-injection fired twice: exit %d %q", code, stderr)
	}
	if code, _, _ := run(t, "enable", "gui/501/com.b"); code != 5 {
		t.Fatalf("enable: exit %d, want injected 5", code)
	}
	code, stdout, _ := run(t, "print-disabled", "gui/501")
	want := "disabled services = {\n\t\"com.a\" => disabled\n\t\"com.b\" => disabled\n}\n\nlogin item associations = {\n}\n"
	if code != 0 || stdout != want {
		t.Errorf("print-disabled: exit %d\n%s\nwant\n%s", code, stdout, want)
	}
	if code, _, stderr := run(t, "kickstart", "-k", "gui/501/com.a"); code != 113 || stderr != "Could not find service \"com.a\" in domain for port\n" {
		t.Errorf("kickstart of an unloaded label: exit %d %q", code, stderr)
	}
}

// launchd keeps a loaded, enabled KeepAlive job running whatever RunAtLoad
// says; the disabled state (the plist's Disabled key read at bootstrap, or
// the override database) is what keeps it down.
func TestKeepAliveRunsOnceLoadedAndEnabled(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep to run as a job")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	t.Setenv(EnvState, state)
	t.Setenv(EnvLog, "")
	t.Setenv(EnvFail, "")
	t.Cleanup(func() {
		if err := Shutdown(state); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	writePlist := func(label string, disabled bool) string {
		p := filepath.Join(dir, label+".plist")
		b, err := plist.MarshalIndent(map[string]any{
			"Label": label, "ProgramArguments": []string{sleep, "600"},
			"KeepAlive": true, "RunAtLoad": false, "Disabled": disabled,
		}, plist.XMLFormat, "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pid := func(label string) int {
		t.Helper()
		st, err := ReadState(state)
		if err != nil {
			t.Fatal(err)
		}
		svc, ok := st.Services[label]
		if !ok {
			t.Fatalf("%s not loaded", label)
		}
		return svc.PID
	}
	bootstrap := func(p string) {
		t.Helper()
		if code, _, stderr := run(t, "bootstrap", "gui/501", p); code != 0 {
			t.Fatalf("bootstrap %s: exit %d %s", p, code, stderr)
		}
	}

	bootstrap(writePlist("com.example.keepalive", false))
	if pid("com.example.keepalive") == 0 {
		t.Error("an enabled KeepAlive=true, RunAtLoad=false job was not started at load")
	}

	bootstrap(writePlist("com.example.shipped-disabled", true))
	if p := pid("com.example.shipped-disabled"); p != 0 {
		t.Errorf("a job loaded with Disabled=true runs (pid %d)", p)
	}
	// Enabled in the override database: launchd now keeps it alive.
	if code, _, stderr := run(t, "enable", "gui/501/com.example.shipped-disabled"); code != 0 {
		t.Fatalf("enable: exit %d %s", code, stderr)
	}
	run(t, "print-disabled", "gui/501")
	if pid("com.example.shipped-disabled") == 0 {
		t.Error("a loaded KeepAlive job was not started once enabled")
	}

	// Turned off with `launchctl disable`: not started at load.
	if code, _, _ := run(t, "disable", "gui/501/com.example.off"); code != 0 {
		t.Fatal("disable failed")
	}
	p := writePlist("com.example.off", false)
	if code, _, _ := run(t, "bootstrap", "gui/501", p); code != 5 {
		t.Errorf("bootstrap of a disabled label: exit %d, want 5 (EIO)", code)
	}
}

// FAKE_LAUNCHD_PAUSE holds the first matching invocation before it does
// anything, until its pause file is removed; later ones run at once.
func TestPauseHoldsOneInvocation(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	t.Setenv(EnvState, state)
	t.Setenv(EnvLog, "")
	t.Setenv(EnvFail, "")
	t.Setenv(EnvPause, "disable gui/501/com.a")
	done := make(chan int, 1)
	go func() { code, _, _ := run(t, "disable", "gui/501/com.a"); done <- code }()
	deadline := time.Now().Add(20 * time.Second) // only detects a hang
	for {
		if _, err := os.Stat(PauseFile(state)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the invocation never paused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, err := ReadState(state); err != nil || st.Overrides["com.a"] {
		t.Fatalf("a paused invocation changed the state: %v %v", st.Overrides, err)
	}
	if err := os.Remove(PauseFile(state)); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("released invocation: exit %d", code)
	}
	if st, err := ReadState(state); err != nil || !st.Overrides["com.a"] {
		t.Fatalf("the released invocation did not run: %v %v", st.Overrides, err)
	}
	// Once only: the next matching invocation runs straight through.
	if code, _, _ := run(t, "disable", "gui/501/com.a"); code != 0 {
		t.Fatalf("second invocation: exit %d", code)
	}
}
