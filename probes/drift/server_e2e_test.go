package drift

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// withServer starts a council simulator with personality p and points the
// fixture's drift at it.
func (f *fixture) withServer(p councilsim.Personality) *councilsim.Sim {
	f.t.Helper()
	sim := f.home.Sim(func(c *councilsim.Config) {
		c.Personality = councilsim.PersonalityConfig{Personality: p}
	})
	f.serverURL = sim.PlainURL()
	return sim
}

// recorded is the server identity drift keeps in its state.
func (f *fixture) recorded() serverIdentity {
	f.t.Helper()
	s, err := state.Load(f.home.StateFile("drift"), "drift")
	if err != nil {
		f.t.Fatal(err)
	}
	var id serverIdentity
	if ok, err := s.Get(identityKey, &id); !ok || err != nil {
		f.t.Fatalf("no server identity in drift's state (ok=%v, err=%v)", ok, err)
	}
	return id
}

func setFault(t *testing.T, sim *councilsim.Sim, fault councilsim.BackendFault) {
	t.Helper()
	if err := sim.SetBackendFault(fault, 0); err != nil {
		t.Fatal(err)
	}
}

// An upgrade between two drift ticks is news at info, once: the version and
// the model's digest are named, the exit code stays 0, and the next tick
// is quiet.
func TestServerChangedIsNewsOnce(t *testing.T) {
	for _, tc := range []struct {
		personality councilsim.Personality
		want        []string // in the notice
	}{
		{councilsim.PersonalityOllama, []string{"version 0.12.3 -> 0.12.4", councilsim.DefaultModel + " digest "}},
		{councilsim.PersonalityVLLM, []string{"version "}},
		{councilsim.PersonalityLlamaServer, []string{"build "}},
	} {
		t.Run(string(tc.personality), func(t *testing.T) {
			f := newFixture(t)
			sim := f.withServer(tc.personality)
			tk := f.run()
			tk.mustExit(t, 0)
			if len(probetest.Find(tk.events, "server_identity_recorded", "")) != 1 {
				t.Fatalf("first tick recorded no identity; events: %v", tk.events)
			}
			before := f.recorded()
			if before.Backend != string(tc.personality) || (before.Version == "" && before.Build == "") {
				t.Fatalf("recorded %+v, want the %s backend with a version or build", before, tc.personality)
			}
			if !strings.Contains(tk.Stdout, "; "+string(tc.personality)+" ") {
				t.Errorf("status line does not name the server: %q", tk.Stdout)
			}

			setFault(t, sim, councilsim.BackendFaultVersionChanged)
			tk = f.run()
			tk.mustExit(t, 0)
			alerts := f.ff.AlertsFor(CheckServerChanged)
			if len(alerts) != 1 || alerts[0].Severity != alert.Info {
				t.Fatalf("server_changed alerts = %+v, want one at info", alerts)
			}
			for _, w := range tc.want {
				if !strings.Contains(alerts[0].Message, w) {
					t.Errorf("notice %q lacks %q", alerts[0].Message, w)
				}
			}
			if len(probetest.Find(tk.events, CheckServerChanged, CheckServerChanged)) != 1 {
				t.Error("no server_changed event")
			}

			tk = f.run()
			tk.mustExit(t, 0)
			if n := len(f.ff.AlertsFor(CheckServerChanged)); n != 1 {
				t.Errorf("%d server_changed alerts after a quiet tick, want still 1", n)
			}
			if len(probetest.Find(tk.events, "server_identity_unchanged", "")) != 1 {
				t.Error("third tick did not find the identity unchanged")
			}
		})
	}
}

// Ollama unloads an idle model after its keep-alive: the model leaving
// /api/ps is not a change, nor is it coming back with the same weights.
func TestModelUnloadedIsNotAChange(t *testing.T) {
	f := newFixture(t)
	sim := f.withServer(councilsim.PersonalityOllama)
	f.run().mustExit(t, 0)
	digest := f.recorded().Models[councilsim.DefaultModel].Digest
	if digest == "" {
		t.Fatalf("no digest recorded for the loaded model: %+v", f.recorded())
	}
	setFault(t, sim, councilsim.BackendFaultUnloaded)
	f.run().mustExit(t, 0)
	setFault(t, sim, councilsim.BackendFaultNone)
	f.run().mustExit(t, 0)
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts for an unload and reload: %+v", got)
	}
	if got := f.recorded().Models[councilsim.DefaultModel].Digest; got != digest {
		t.Errorf("digest %s after the reload, want %s kept", got, digest)
	}
}

// Replaced under its own name: after `ollama create` replaced the loaded
// model, /api/ps lists the name twice, new digest first, old second (as a
// real Ollama 0.17.4 does). That is new weights: server_changed, once; the
// old runner still listed on the next tick is not news again. Before,
// drift kept the last entry per name, the old digest, and said
// server_identity_unchanged.
func TestModelReplacedUnderItsName(t *testing.T) {
	f := newFixture(t)
	sim := f.withServer(councilsim.PersonalityOllama)
	f.run().mustExit(t, 0)
	old := f.recorded().Models[councilsim.DefaultModel].Digest

	setFault(t, sim, councilsim.BackendFaultReplaced)
	tk := f.run()
	tk.mustExit(t, 0)
	alerts := f.ff.AlertsFor(CheckServerChanged)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, councilsim.DefaultModel+" digest "+old[:12]+" -> ") {
		t.Fatalf("server_changed alerts %+v, want one naming the model's digest change from %s; identity events %v",
			alerts, old[:12], probetest.Find(tk.events, "server_identity_unchanged", ""))
	}
	rec := f.recorded().Models[councilsim.DefaultModel]
	if rec.Digest == old || len(rec.AlsoListed) != 1 || rec.AlsoListed[0] != old {
		t.Errorf("recorded %+v: want the new digest current, the old one beside it", rec)
	}

	tk = f.run()
	tk.mustExit(t, 0)
	if n := len(f.ff.AlertsFor(CheckServerChanged)); n != 1 {
		t.Errorf("%d server_changed alerts with the old runner still listed, want still 1", n)
	}
	if len(probetest.Find(tk.events, "server_identity_unchanged", "")) != 1 {
		t.Errorf("third tick: %v", tk.events)
	}
}

// A version the operator's --expect-server excludes is an error, with one
// recovery when it is allowed again; a digest --expect-model-digest
// excludes likewise.
func TestExpectedServerAndModel(t *testing.T) {
	f := newFixture(t)
	sim := f.withServer(councilsim.PersonalityOllama)
	f.run().mustExit(t, 0)
	digest := f.recorded().Models[councilsim.DefaultModel].Digest
	expect := []string{"--expect-server", "0.12.3", "--expect-model-digest", "sha256:" + digest[:12]}

	tk := f.run(expect...)
	tk.mustExit(t, 0)
	if len(probetest.Find(tk.events, "server_expected", CheckUnexpectedServer)) != 1 ||
		len(probetest.Find(tk.events, "model_expected", CheckUnexpectedModel)) != 1 {
		t.Fatalf("expected server and model not confirmed; failing: %v", tk.failing())
	}

	setFault(t, sim, councilsim.BackendFaultVersionChanged)
	tk = f.run(expect...)
	tk.mustExit(t, 2)
	tk.mustFail(t, CheckUnexpectedServer, "server_unexpected", "error", "version 0.12.4", "--expect-server (0.12.3)")
	tk.mustFail(t, CheckUnexpectedModel, "model_unexpected", "error", councilsim.DefaultModel+" has digest")
	for _, check := range []string{CheckUnexpectedServer, CheckUnexpectedModel} {
		if a := f.ff.AlertsFor(check); len(a) != 1 || a[0].Severity != alert.Error {
			t.Errorf("%s alerts = %+v, want one error", check, a)
		}
	}
	// The change itself is still news at info, beside the errors.
	if a := f.ff.AlertsFor(CheckServerChanged); len(a) != 1 {
		t.Errorf("server_changed alerts = %+v, want one", a)
	}

	// The operator allows the new version: one recovery notice.
	tk = f.run("--expect-server", "0.12.*")
	tk.mustExit(t, 0)
	if a := f.ff.AlertsFor(CheckUnexpectedServer); len(a) != 2 || !strings.HasSuffix(a[1].Title, "recovered") {
		t.Errorf("unexpected_server alerts = %+v, want the error then a recovery", a)
	}
	// --expect-model-digest dropped: its channel closes with a recovery.
	if a := f.ff.AlertsFor(CheckUnexpectedModel); len(a) != 2 || !strings.HasSuffix(a[1].Title, "recovered") {
		t.Errorf("unexpected_model alerts = %+v, want the error then a recovery", a)
	}
}

// A generic server reports no identity: nothing is news, nothing fails,
// and an expectation that cannot be checked is UNKNOWN, not a pass.
func TestGenericServerHasNoIdentity(t *testing.T) {
	f := newFixture(t)
	f.withServer(councilsim.PersonalityGeneric)
	tk := f.run()
	tk.mustExit(t, 0)
	tk = f.run()
	tk.mustExit(t, 0)
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts on a generic server: %+v", got)
	}
	tk = f.run("--expect-server", "1.*")
	tk.mustExit(t, 3)
	tk.mustFail(t, CheckUnexpectedServer, "server_version_unknown", "error", "reports no version or build")
}

// A server that is down is the guardian's business: drift's other checks
// run, nothing about the server alerts, and the exit code stays 0.
func TestServerDownIsNotDriftsFailure(t *testing.T) {
	f := newFixture(t)
	tk := f.run("--expect-server", "0.12.3")
	tk.mustExit(t, 0)
	if len(probetest.Find(tk.events, "server_identity_skipped", "")) != 1 {
		t.Error("no server_identity_skipped event")
	}
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts with the server down: %+v", got)
	}
	if !strings.Contains(tk.Stdout, "4/4 file(s) match HEAD") {
		t.Errorf("file checks did not run: %q", tk.Stdout)
	}
}

// A transport that cannot be resolved (a world-readable token) is reported
// as UNKNOWN on the transport channel, and drift still compares the files.
func TestBadTransportStillChecksFiles(t *testing.T) {
	f := newFixture(t)
	f.home.WithToken(0o644)
	script := f.files[1]
	f.writeDeployed(script.Deployed, append([]byte("# hotfix\n"), script.Content...))
	tk := f.run()
	tk.mustExit(t, 2) // drifted (error) ranks above transport (UNKNOWN)
	tk.mustFail(t, "transport", "transport_error", "error", "token")
	tk.mustFail(t, "drifted:~/"+script.Deployed, "drifted", "error")
	if len(probetest.Find(tk.events, "server_identity_skipped", "")) != 1 {
		t.Error("no server_identity_skipped event")
	}
}

// The recorded identity survives a corrupt value in the state: it is
// logged and recorded afresh, never an alert.
func TestCorruptRecordedIdentity(t *testing.T) {
	f := newFixture(t)
	f.withServer(councilsim.PersonalityOllama)
	f.run().mustExit(t, 0)
	s, err := state.Load(f.home.StateFile("drift"), "drift")
	if err != nil {
		t.Fatal(err)
	}
	s.Data[identityKey] = []byte(`"not an identity"`)
	if err := s.Save(f.home.StateFile("drift")); err != nil {
		t.Fatal(err)
	}
	tk := f.run()
	tk.mustExit(t, 0)
	if len(probetest.Find(tk.events, "server_identity_reset", "")) != 1 {
		t.Error("no server_identity_reset event")
	}
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts: %+v", got)
	}
	if f.recorded().Version != "0.12.3" {
		t.Errorf("identity not recorded afresh: %+v", f.recorded())
	}
}

// A malformed expectation is a configuration error (UNKNOWN), named in
// the one flag-error wording, and nothing else is checked.
func TestBadExpectationIsAConfigError(t *testing.T) {
	f := newFixture(t)
	tk := f.run("--expect-model-digest", "2ae6f6")
	tk.mustExit(t, 3)
	tk.mustFail(t, CheckConfig, "config_error", "error", `bad --expect-model-digest "2ae6f6"`)
}

// kickstarts are the kickstart calls the fake launchd received.
func (f *fixture) kickstarts() []string {
	var out []string
	for _, c := range f.ld.Calls() {
		if strings.HasPrefix(c, "kickstart") {
			out = append(out, c)
		}
	}
	return out
}

// An upgrade re-checks at once: the server changing starts parity-smoke
// and context now (kickstart, without -k), each logged as a remediation,
// once per change; a quiet tick starts nothing; a second change starts
// them again.
func TestServerChangeStartsTheNightlyProbes(t *testing.T) {
	f := newFixture(t)
	sim := f.withServer(councilsim.PersonalityOllama)
	f.run().mustExit(t, 0)
	if k := f.kickstarts(); len(k) != 0 {
		t.Fatalf("the first record started %q", k)
	}

	setFault(t, sim, councilsim.BackendFaultVersionChanged)
	tk := f.run()
	tk.mustExit(t, 0)
	want := []string{
		"kickstart " + f.domain() + "/com.sanctum.council-parity-smoke",
		"kickstart " + f.domain() + "/com.sanctum.council-context",
	}
	if got := f.kickstarts(); !slices.Equal(got, want) {
		t.Fatalf("kickstarts %q, want %q", got, want)
	}
	rem := probetest.Find(tk.events, "remediation", "")
	if len(rem) != 2 || rem[0]["probe"] != "parity-smoke" || rem[1]["probe"] != "context" || rem[0]["action"] != "kickstart" ||
		!strings.Contains(rem[0]["reason"].(string), "server_changed: version 0.12.3 -> 0.12.4") {
		t.Fatalf("remediation events %v", rem)
	}
	// launchd ran each job once (the agents run /bin/true); the others
	// were left alone.
	for label, runs := range map[string]string{"com.sanctum.council-parity-smoke": "1", "com.sanctum.council-context": "1", "com.sanctum.council-canary": "0"} {
		cmd := exec.Command(launchctlBin, "print", f.domain()+"/"+label)
		cmd.Env = append(os.Environ(), f.ld.Env()...)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "\truns = "+runs+"\n") {
			t.Errorf("%s: want runs = %s: %v\n%s", label, runs, err, out)
		}
	}

	f.run().mustExit(t, 0)
	if got := f.kickstarts(); len(got) != 2 {
		t.Errorf("a quiet tick started more: %q", got)
	}

	setFault(t, sim, councilsim.BackendFaultNone) // back to 0.12.3: a change too
	tk = f.run()
	tk.mustExit(t, 0)
	if got := f.kickstarts(); len(got) != 4 {
		t.Errorf("the second change started %q, want both again", got)
	}
}

// A start that fails (launchctl refuses) is retried on the next tick, for
// that probe only; --recheck-on-change=false starts nothing; --dry-run
// prints the commands and remembers nothing.
func TestServerChangeRecheckFailuresAndSwitches(t *testing.T) {
	t.Run("retried", func(t *testing.T) {
		f := newFixture(t)
		sim := f.withServer(councilsim.PersonalityOllama)
		f.run().mustExit(t, 0)
		setFault(t, sim, councilsim.BackendFaultVersionChanged)
		f.env = []string{"FAKE_LAUNCHD_FAIL=kickstart:com.sanctum.council-context=eio-once"}
		tk := f.run()
		tk.mustExit(t, 0)
		if n := len(probetest.Find(tk.events, "remediation", "")); n != 1 {
			t.Errorf("%d remediations, want parity-smoke's", n)
		}
		failed := probetest.Find(tk.events, "remediation_failed", "")
		if len(failed) != 1 || failed[0]["probe"] != "context" || !strings.Contains(failed[0]["error"].(string), "Input/output error") {
			t.Fatalf("remediation_failed %v", failed)
		}
		tk = f.run()
		rem := probetest.Find(tk.events, "remediation", "")
		if len(rem) != 1 || rem[0]["probe"] != "context" || rem[0]["attempt"] != float64(2) {
			t.Fatalf("the retry: %v", rem)
		}
		f.run()
		ks := f.kickstarts()
		if n := len(ks); n != 3 { // parity-smoke, context (refused), context
			t.Errorf("kickstarts %q", ks)
		}
	})
	t.Run("off", func(t *testing.T) {
		f := newFixture(t)
		sim := f.withServer(councilsim.PersonalityOllama)
		f.run().mustExit(t, 0)
		setFault(t, sim, councilsim.BackendFaultVersionChanged)
		tk := f.run("--recheck-on-change=false")
		if len(probetest.Find(tk.events, "recheck_off", "")) != 1 || len(f.kickstarts()) != 0 {
			t.Errorf("recheck off started %q", f.kickstarts())
		}
	})
	t.Run("dry-run", func(t *testing.T) {
		f := newFixture(t)
		sim := f.withServer(councilsim.PersonalityOllama)
		f.run().mustExit(t, 0)
		setFault(t, sim, councilsim.BackendFaultVersionChanged)
		tk := f.run("--dry-run")
		if !strings.Contains(tk.Stdout, "dry-run: "+launchctlBin+" kickstart "+f.domain()+"/com.sanctum.council-context") ||
			len(probetest.Find(tk.events, "remediation_dry_run", "")) != 2 || len(f.kickstarts()) != 0 {
			t.Errorf("dry-run: kickstarts %q, stdout %s", f.kickstarts(), tk.Stdout)
		}
	})
}
