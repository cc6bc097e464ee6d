package pace

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// These are the pace defects a real Ollama showed (docs/RELIABILITY.md,
// "What the real servers showed"), replayed on the simulator: each failed
// on the probe before its fix.

// appendWhenAsked appends line to the primary's log as soon as the probe's
// chat request reaches the simulator: another client's request ending
// while the probe waits for its first token.
func (f *fixture) appendWhenAsked(t *testing.T, line func() string) <-chan error {
	served := f.sim.Requests()
	done := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(runTimeout)
		for f.sim.Requests() == served {
			if time.Now().After(deadline) {
				done <- fmt.Errorf("the probe's request never arrived")
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		lf, err := os.OpenFile(f.log, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = lf.WriteString(line() + "\n")
			lf.Close()
		}
		done <- err
	}()
	return done
}

// TestBusyByOllamaLog: the simulator plays Ollama and logs as Ollama does
// (gin lines, local time to the second). Another client's chat that ends
// during the sample makes it busy, not degraded. Before, gin lines were
// not read as requests and the 4x slower sample was ttft_degraded.
func TestBusyByOllamaLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *councilsim.Config) {
		c.Personality.Personality = councilsim.PersonalityOllama
		c.AccessLogFormat = councilsim.AccessLogGin
	})
	f.learn(t)
	f.setPace(t, councilsim.Pace{TTFT: 4 * usualTTFT, TokenDelay: usualDelay})
	done := f.appendWhenAsked(t, func() string {
		// Queued behind this chat of 30 s, the probe waited: as with
		// OLLAMA_NUM_PARALLEL=1.
		return "[GIN] " + time.Now().Format("2006/01/02 - 15:04:05") + ` | 200 |         30.5s |       127.0.0.1 | POST     "/v1/chat/completions"`
	})
	tk := f.run(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ev := tk.mustResult(t, resultBusy, 0)
	if ev["busy_reason"] != busyByLog || ev["busy_requests"] != float64(1) {
		t.Errorf("busy_reason %v busy_requests %v, want access_log and 1", ev["busy_reason"], ev["busy_requests"])
	}
	if n := len(probetest.Find(tk.events, "pace_degraded", "")); n != 0 {
		t.Errorf("a busy sample was judged: %v", tk.events)
	}
	f.finalChecks(t)
}

// spinner is a process that keeps one core busy (or sleeps), standing in
// for the primary; launchctl prints its pid.
func spinner(t *testing.T, busy bool) int {
	t.Helper()
	script := "exec sleep 120"
	if busy {
		script = "while :; do :; done"
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	return cmd.Process.Pid
}

// fakeLaunchctl writes a launchctl that prints pid as the primary's.
func (f *fixture) fakeLaunchctl(t *testing.T, pid int) string {
	t.Helper()
	p := filepath.Join(f.home.Dir, "launchctl")
	print := fmt.Sprintf("gui/501/com.sanctum.mlx = {\n\tstate = running\n\tpid = %d\n}\n", pid)
	if err := os.WriteFile(p, []byte("#!/bin/sh\ncat <<'EOF'\n"+print+"EOF\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBusyByCPUBeforeTheSample: a server that says nothing of its load
// (no /metrics, the other request's line not logged yet) but was already
// working when the probe was about to ask is busy. Before, the 4x slower
// sample was judged ttft_degraded. An idle primary changes nothing.
func TestBusyByCPUBeforeTheSample(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.learn(t)
	f.setPace(t, councilsim.Pace{TTFT: 4 * usualTTFT, TokenDelay: usualDelay})
	// The line is low (2% of a core, the guardian's idle line): a
	// spinning process on this shared machine may get only a small share
	// of a core, and a sleeping one gets none.
	cpuArgs := []string{"--busy-cpu-window", "1s", "--busy-cpu", "0.02", "--service-manager", "launchd"}

	tk := f.run(t, append(cpuArgs, "--launchctl", f.fakeLaunchctl(t, spinner(t, true)))...)
	ev := tk.mustResult(t, resultBusy, 0)
	if ev["busy_reason"] != busyByCPU {
		t.Errorf("busy_reason %v, want cpu: %v", ev["busy_reason"], ev)
	}
	if pct, _ := ev["cpu_before_pct"].(float64); pct < 2 {
		t.Errorf("cpu_before_pct %v", ev["cpu_before_pct"])
	}
	if !strings.Contains(tk.Stdout, "COUNCIL PACE OK - busy (the primary was already working before the sample") {
		t.Errorf("status line %q", tk.Stdout)
	}

	tk = f.run(t, append(cpuArgs, "--launchctl", f.fakeLaunchctl(t, spinner(t, false)))...)
	ev = tk.mustResult(t, resultDegraded, 1)
	if _, ok := ev["cpu_before_pct"]; !ok {
		t.Errorf("the idle primary's CPU is not in the event: %v", ev)
	}
	f.finalChecks(t)
}

// Under systemd the sampled pid is the primary unit's MainPID, asked of
// systemctl; the probe changes nothing.
func TestBusyByCPUUnderSystemd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.learn(t)
	f.setPace(t, councilsim.Pace{TTFT: 4 * usualTTFT, TokenDelay: usualDelay})
	sd := probetest.NewSystemd(t, systemctlBin, journalctlBin)
	sd.WriteUnit(t, "llama-server.service", "the primary", "ExecStart=/bin/sh -c 'while :; do :; done'")
	sd.Run(t, "start", "llama-server.service")

	f.env = sd.Env()
	tk := f.run(t, "--busy-cpu-window", "1s", "--busy-cpu", "0.02", "--service-manager", "systemd", "--primary-unit", "llama-server")
	ev := tk.mustResult(t, resultBusy, 0)
	if ev["busy_reason"] != busyByCPU {
		t.Errorf("busy_reason %v, want cpu: %v", ev["busy_reason"], ev)
	}
	if calls := sd.MutatingCalls(); len(calls) != 0 || len(sd.Calls()) == 0 {
		t.Errorf("pace must ask systemd and change nothing: %q", sd.Calls())
	}
	f.finalChecks(t)
}

// TestColdModelIsLoadedFirst: Ollama unloaded the model (its keep-alive,
// 5 minutes, is shorter than pace's 15): the probe loads it first, times
// the load on its own (load_ms, council_pace_load_seconds), and judges a
// sample taken on the loaded model, at the usual pace. Before, the load
// was the sample's TTFT: 10x the usual, ttft_degraded.
func TestColdModelIsLoadedFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *councilsim.Config) {
		c.Personality.Personality = councilsim.PersonalityOllama
		c.Personality.LoadTime = 10 * usualTTFT
	})
	f.learn(t)
	if err := f.sim.SetBackendFault(councilsim.BackendFaultCold, 0); err != nil {
		t.Fatal(err)
	}
	tk := f.run(t)
	ev := tk.mustResult(t, resultOK, 0)
	if ev["cold"] != true {
		t.Errorf("cold %v: %v", ev["cold"], ev)
	}
	if load, _ := ev["load_ms"].(float64); load <= 0 {
		t.Errorf("load_ms %v", ev["load_ms"])
	}
	if !strings.Contains(tk.Stdout, "COUNCIL PACE OK - model loaded first in ") || !strings.Contains(tk.Stdout, " load_ms=") {
		t.Errorf("status line %q", tk.Stdout)
	}
	prom, err := os.ReadFile(filepath.Join(f.metrics, "council_pace.prom"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(prom), metricLoad+`{probe="pace",model="`+councilsim.DefaultModel+`"} `) {
		t.Errorf("textfile lacks %s:\n%s", metricLoad, prom)
	}
	// Loaded now: the next tick is warm, with no load figure.
	ev = f.run(t).mustResult(t, resultOK, 0)
	if _, cold := ev["cold"]; cold {
		t.Errorf("a warm sample says cold: %v", ev)
	}
	f.finalChecks(t)
}
