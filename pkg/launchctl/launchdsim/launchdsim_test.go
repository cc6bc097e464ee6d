package launchdsim

import (
	"bytes"
	"path/filepath"
	"testing"
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
