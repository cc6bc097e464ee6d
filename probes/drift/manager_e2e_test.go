package drift

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// A new user on Linux, no launchctl anywhere and no systemd to ask: drift
// cannot tell whether the agents are loaded or the fallback is disabled.
// That is one UNKNOWN on the service_manager channel, naming why, and no
// verdict on anything that needed the manager: not one agent_not_loaded
// per agent ("cannot tell whether ... is loaded") and a fallback_race
// ("cannot read launchd's disabled state") besides, eight false alarms.
func TestNoServiceManagerIsOneUnknownNotEightErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"no launchctl, no systemctl", []string{"COUNCIL_LAUNCHCTL=" + filepath.Join(t.TempDir(), "launchctl"),
			"COUNCIL_SYSTEMCTL=" + filepath.Join(t.TempDir(), "systemctl")}},
		{"launchd named, launchctl missing", []string{"COUNCIL_SERVICE_MANAGER=launchd", "COUNCIL_LAUNCHCTL=" + filepath.Join(t.TempDir(), "launchctl")}},
		{"launchctl itself fails", []string{"COUNCIL_SERVICE_MANAGER=launchd", "COUNCIL_LAUNCHCTL=" + probetest.WriteScript(t, t.TempDir(), "launchctl", "echo 'launchctl: broken' >&2; exit 1\n")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.ld.Path = "" // the fixture's fake launchd is not this host's
			env := f.home.Env(append([]string{"FORCE_FLOW_URL=" + f.ff.URL(), "COUNCIL_URL=" + f.serverURL}, tt.env...)...)
			res := probetest.Run(t, 60*time.Second, env, driftBin, "--timeout", "20s", "--alert-budget", "5s")
			evs := probetest.Events(t, f.home.LogFile("drift"))
			tk := tick{Result: res, events: evs}
			tk.mustExit(t, 3)
			if bad := tk.failing(); len(bad) != 1 || bad[0] != "service_manager=service_manager_unavailable" {
				t.Fatalf("want one service_manager UNKNOWN and nothing else failing, got %v", bad)
			}
			for _, e := range evs {
				if c, _ := e["check"].(string); strings.HasPrefix(c, "agent_not_loaded") || c == "fallback_race" {
					if e["event"] != "not_judged" {
						t.Errorf("a check that needs the manager was judged: %v", e)
					}
				}
			}
			alerts := f.ff.Alerts()
			if len(alerts) != 1 || !strings.HasSuffix(alerts[0].Title, ": service_manager") {
				t.Errorf("want one service_manager alert, got %+v", alerts)
			}
			// The file checks still ran.
			if !strings.Contains(res.Stdout, "service_manager: cannot ask") {
				t.Errorf("status line %q does not say why", res.Stdout)
			}
		})
	}
}

// systemdHost is the fixture's council host under the simulated systemd:
// the primary's unit running, every probe's timer waiting, the fallback's
// unit disabled and stopped.
type systemdHost struct {
	*fixture
	sd *probetest.Systemd
}

const (
	primaryUnit  = "ollama.service"
	fallbackUnit = "llama-server.service"
)

func newSystemdHost(t *testing.T) *systemdHost {
	f := newFixture(t)
	h := &systemdHost{fixture: f, sd: probetest.NewSystemd(t, systemctlBin, journalctlBin)}
	h.sd.WriteUnit(t, primaryUnit, "the primary", "ExecStart=sleep 300", "Restart=always")
	h.sd.WriteUnit(t, fallbackUnit, "the fallback", "ExecStart=sleep 300", "Restart=always")
	h.sd.Run(t, "enable", "--now", primaryUnit)
	for _, p := range suite.Probes {
		body := "[Unit]\nDescription=" + p.Binary() + " timer\n\n[Timer]\nOnUnitActiveSec=" + p.Interval().String() + "\n\n[Install]\nWantedBy=timers.target\n"
		if err := os.WriteFile(filepath.Join(h.sd.Units, p.TimerUnit()), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		h.sd.Run(t, "enable", "--now", p.TimerUnit())
	}
	return h
}

func (h *systemdHost) run(args ...string) tick {
	h.t.Helper()
	logFile := h.home.LogFile("drift")
	os.Remove(logFile)
	env := h.home.Env(append(h.sd.Env(), "FORCE_FLOW_URL="+h.ff.URL(), "COUNCIL_URL="+h.serverURL)...)
	args = append([]string{"--timeout", "20s", "--alert-budget", "5s", "--primary-unit", primaryUnit, "--fallback-unit", fallbackUnit}, args...)
	res := probetest.Run(h.t, 60*time.Second, env, driftBin, args...)
	return tick{Result: res, events: probetest.Events(h.t, logFile)}
}

// Under systemd drift expects the primary's unit and every probe's timer
// active, and the fallback's unit disabled and stopped while the primary
// serves; it never changes systemd's state.
func TestSystemdHost(t *testing.T) {
	t.Run("disciplined", func(t *testing.T) {
		h := newSystemdHost(t)
		tk := h.run()
		tk.mustExit(t, 0)
		for _, unit := range append([]string{primaryUnit}, timers()...) {
			if len(probetest.Find(tk.events, "agent_loaded", "agent_not_loaded:"+unit)) != 1 {
				t.Errorf("no agent_loaded for %s; failing %v", unit, tk.failing())
			}
		}
		if len(probetest.Find(tk.events, "fallback_disciplined", "fallback_race")) != 1 {
			t.Errorf("no fallback_disciplined: %v", tk.checkEvents("fallback_race"))
		}
		if !strings.Contains(tk.Stdout, fmt.Sprintf("%d unit(s) loaded", len(suite.Probes)+1)) || !strings.Contains(tk.Stdout, "[systemd user]") {
			t.Errorf("status line %q does not name the units and the manager", tk.Stdout)
		}
		for _, c := range h.sd.MutatingCalls() {
			t.Errorf("drift changed systemd: %s", c)
		}
	})
	t.Run("a timer stopped", func(t *testing.T) {
		h := newSystemdHost(t)
		h.sd.Run(t, "stop", "council-canary.timer")
		tk := h.run()
		tk.mustExit(t, 2)
		tk.mustFail(t, "agent_not_loaded:council-canary.timer", "agent_not_loaded", "error", "council-canary.timer is loaded but not active (inactive/dead)")
	})
	t.Run("the primary's unit missing", func(t *testing.T) {
		h := newSystemdHost(t)
		tk := h.run("--primary-unit", "vllm.service")
		tk.mustExit(t, 2)
		tk.mustFail(t, "agent_not_loaded:vllm.service", "agent_not_loaded", "error", "vllm.service is not loaded in systemd")
	})
	t.Run("the fallback enabled", func(t *testing.T) {
		h := newSystemdHost(t)
		h.sd.Run(t, "enable", fallbackUnit)
		tk := h.run()
		tk.mustExit(t, 2)
		tk.mustFail(t, "fallback_race", "fallback_race", "error", "systemd has llama-server.service enabled (it starts at boot")
	})
	t.Run("the fallback running beside the primary", func(t *testing.T) {
		h := newSystemdHost(t)
		h.sd.Run(t, "start", fallbackUnit)
		tk := h.run()
		tk.mustExit(t, 2)
		tk.mustFail(t, "fallback_race", "fallback_race", "error", "llama-server.service runs (pid ")
	})
	t.Run("on the fallback, the primary still enabled", func(t *testing.T) {
		h := newSystemdHost(t)
		h.writeHome(".sanctum/state/council-fallback.lock", []byte(`{"who":"council-guardian","why":"test"}`))
		tk := h.run()
		tk.mustExit(t, 2)
		tk.mustFail(t, "fallback_race", "fallback_race", "error", "on the fallback, but systemd has ollama.service enabled", "a reboot would start the primary")
	})
	t.Run("no fallback unit", func(t *testing.T) {
		h := newSystemdHost(t)
		tk := h.run("--fallback-unit", "none-here.service")
		tk.mustExit(t, 0)
		if len(probetest.Find(tk.events, "fallback_absent", "fallback_race")) != 1 {
			t.Errorf("want fallback_absent: %v", tk.checkEvents("fallback_race"))
		}
	})
	t.Run("no user manager", func(t *testing.T) {
		h := newSystemdHost(t)
		h.sd.Fail = "show=nobus"
		tk := h.run()
		tk.mustExit(t, 3)
		if bad := tk.failing(); len(bad) != 1 || bad[0] != "service_manager=service_manager_unavailable" {
			t.Fatalf("failing %v", bad)
		}
		tk.mustFail(t, "service_manager", "service_manager_unavailable", "error", "cannot ask systemd", "Failed to connect to bus: No medium found")
	})
}

// Under systemd an upgrade re-checks at once too: the nightly probes'
// services are started (systemctl start council-<name>.service), each a
// remediation, once per change.
func TestSystemdServerChangeStartsTheNightlyProbes(t *testing.T) {
	h := newSystemdHost(t)
	for _, p := range suite.Probes {
		h.sd.WriteUnit(t, p.ServiceUnit(), p.Binary(), "Type=oneshot", "ExecStart=/bin/true")
	}
	sim := h.withServer(councilsim.PersonalityOllama)
	h.run().mustExit(t, 0)
	setFault(t, sim, councilsim.BackendFaultVersionChanged)
	tk := h.run()
	tk.mustExit(t, 0)
	var want []string
	for _, p := range suite.OnServerChange(suite.Probes) {
		want = append(want, "--user start "+p.ServiceUnit())
	}
	if got := h.sd.MutatingCalls(); !slices.Equal(got, want) {
		t.Fatalf("systemctl calls %q, want %q", got, want)
	}
	rem := probetest.Find(tk.events, "remediation", "")
	if len(rem) != len(want) || rem[0]["action"] != "start" || rem[0]["service"] != suite.OnServerChange(suite.Probes)[0].ServiceUnit() {
		t.Errorf("remediation events %v", rem)
	}
	h.run().mustExit(t, 0)
	if got := h.sd.MutatingCalls(); len(got) != len(want) {
		t.Errorf("a quiet tick started more: %q", got)
	}
}

func timers() []string {
	var out []string
	for _, p := range suite.Probes {
		out = append(out, p.TimerUnit())
	}
	return out
}
