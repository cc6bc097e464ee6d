package canary

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// On a hang the alert says whether the primary was busy or idle (under
// systemd too: TestHangAlertUnderSystemd): its pid comes from launchctl print (a fake launchctl that prints a real
// process's pid) and its CPU is really sampled. The idle line is a little
// above the default (/proc counts in 10 ms ticks); nothing asserts on time.
func TestHangAlertSaysBusyOrIdle(t *testing.T) {
	for _, tc := range []struct{ name, script, want string }{
		{"idle", "exec sleep 60", "was idle"},
		{"busy", "while :; do :; done", "was busy"},
		// The primary idles while its child works (Ollama's serve and
		// runner): busy, by the whole tree's CPU.
		{"busy child", "(while :; do :; done) & exec sleep 60", "with its 1 child process(es)) was busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			child := exec.Command("/bin/sh", "-c", tc.script)
			child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Kill(-child.Process.Pid, syscall.SIGKILL); child.Wait() })
			f := newFixture(t, false, "--cpu-window", "1s", "--idle-cpu", "0.05")
			print := fmt.Sprintf("gui/501/com.sanctum.mlx = {\n\tstate = running\n\tpid = %d\n}\n", child.Process.Pid)
			script := "#!/bin/sh\necho \"$@\" >> " + f.launchctl + "\ncat <<'EOF'\n" + print + "EOF\n"
			if err := os.WriteFile(filepath.Join(f.home.Dir, "launchctl"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := f.sim.SetFault(councilsim.FaultHang); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				f.run(t)
			}
			alerts := f.ff.AlertsFor(CheckHang)
			if len(alerts) != 1 || !strings.Contains(alerts[0].Message, tc.want) ||
				!strings.Contains(alerts[0].Message, fmt.Sprintf("pid %d", child.Process.Pid)) {
				t.Fatalf("hang alert should say %q: %+v", tc.want, alerts)
			}
			f.finalChecks(t)
		})
	}
}

// Under systemd the sampled pid is the primary unit's MainPID.
func TestHangAlertUnderSystemd(t *testing.T) {
	f := newFixture(t, false, "--cpu-window", "1s", "--idle-cpu", "0.05", "--primary-unit", "llama-server")
	sd := probetest.NewSystemd(t, systemctlBin, journalctlBin)
	sd.WriteUnit(t, "llama-server.service", "the primary", "ExecStart=/bin/sh -c 'while :; do :; done'")
	sd.Run(t, "start", "llama-server.service")
	pid := sd.Show(t, "llama-server.service")["MainPID"]
	if err := f.sim.SetFault(councilsim.FaultHang); err != nil {
		t.Fatal(err)
	}
	env := f.home.Env(sd.Env()...)
	for range 2 {
		probetest.Run(t, runTimeout, env, bin, append(append([]string(nil), f.args...), "--service-manager", "systemd")...)
	}
	alerts := f.ff.AlertsFor(CheckHang)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, "was busy") || !strings.Contains(alerts[0].Message, "pid "+pid) {
		t.Fatalf("hang alert should say the unit's pid %s was busy: %+v", pid, alerts)
	}
	if calls := sd.MutatingCalls(); len(calls) != 0 || len(sd.Calls()) == 0 {
		t.Errorf("the canary must ask systemd and change nothing: %q", sd.Calls())
	}
}
