package guardian_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/probes/guardian"
)

// simWith is an in-process simulator with personality p showing fault f.
func simWith(r *rig, p councilsim.Personality, f councilsim.BackendFault) *councilsim.Sim {
	return r.h.Sim(func(c *councilsim.Config) {
		c.Personality = councilsim.PersonalityConfig{Personality: p, BackendFault: f}
	})
}

// A server that says it is loading is not a failure and is not restarted,
// however many ticks, until --max-loading; after that it is a failure.
func TestLoadingServerIsNotRestartedUntilMaxLoading(t *testing.T) {
	r := newRig(t)
	sim := simWith(r, councilsim.PersonalityLlamaServer, councilsim.BackendFaultLoading)
	for i := 0; i < 4; i++ {
		res := r.run("--url", sim.PlainURL())
		wantCode(t, res, 0)
		if !strings.Contains(res.Stdout, "loading") {
			t.Errorf("tick %d summary does not say loading: %s", i, res.Stdout)
		}
	}
	evs := r.events()
	if n := countEvents(evs, "server_loading"); n != 4 {
		t.Fatalf("%d server_loading events, want 4:\n%s", n, dump(evs))
	}
	ev := firstEvent(evs, "server_loading")
	if ev["backend"] != "llama-server" || ev["detail"] != "Loading model" {
		t.Errorf("server_loading = %v, want backend llama-server and the server's words", ev)
	}
	none(t, evs, "probe_fail")
	if got := r.mutating(0); len(got) != 0 {
		t.Fatalf("launchctl calls while loading: %v", got)
	}

	// Past --max-loading the load counts as a failure.
	res := r.run("--url", sim.PlainURL(), "--max-loading", "1ns")
	wantCode(t, res, 1)
	fail := one(t, r.events(), "probe_fail", "unreachable")
	if fail["reason"] != "loading_too_long" {
		t.Errorf("probe_fail = %v, want reason loading_too_long", fail)
	}
}

// vLLM's /health 503 (engine dead) is a failure even though /v1/models
// still answers.
func TestVLLMEngineDeadIsAFailureDespiteModels(t *testing.T) {
	r := newRig(t)
	sim := simWith(r, councilsim.PersonalityVLLM, councilsim.BackendFaultEngineDead)
	res := r.run("--url", sim.PlainURL())
	wantCode(t, res, 1)
	ev := one(t, r.events(), "probe_fail", "unreachable")
	if ev["reason"] != "backend_failed" || !strings.Contains(ev["detail"].(string), "engine dead") || ev["backend"] != "vllm" {
		t.Errorf("probe_fail = %v, want reason backend_failed naming the dead engine", ev)
	}

	// The same server with a live engine passes.
	if err := sim.SetBackendFault(councilsim.BackendFaultNone, 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, r.run("--url", sim.PlainURL()), 0)
}

// Residency warns on its own channels and never restarts.
func TestResidencyChannels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     councilsim.Personality
		fault councilsim.BackendFault
		code  int
		event string
	}{
		{"ollama unloaded", councilsim.PersonalityOllama, councilsim.BackendFaultUnloaded, 1, guardian.CheckModelNotLoaded},
		{"ollama on cpu (--gpu required)", councilsim.PersonalityOllama, councilsim.BackendFaultOnCPU, 1, guardian.CheckModelOnCPU},
		{"ollama expiring", councilsim.PersonalityOllama, councilsim.BackendFaultExpiring, 0, guardian.CheckModelUnloading},
		{"lmstudio unloaded", councilsim.PersonalityLMStudio, councilsim.BackendFaultUnloaded, 1, guardian.CheckModelNotLoaded},
		{"llama-server sleeping", councilsim.PersonalityLlamaServer, councilsim.BackendFaultUnloaded, 1, guardian.CheckModelNotLoaded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			sim := simWith(r, tc.p, tc.fault)
			res := r.run("--url", sim.PlainURL(), "--model", councilsim.DefaultModel, "--gpu", "required")
			wantCode(t, res, tc.code)
			evs := r.events()
			one(t, evs, "probe_ok", "unreachable")
			ev := one(t, evs, tc.event, tc.event)
			if ev["model"] != councilsim.DefaultModel {
				t.Errorf("%s = %v, want the model named", tc.event, ev)
			}
			if got := r.mutating(0); len(got) != 0 {
				t.Errorf("launchctl calls for a residency finding: %v", got)
			}
			// Healthy again: the channel recovers.
			if err := sim.SetBackendFault(councilsim.BackendFaultNone, 0); err != nil {
				t.Fatal(err)
			}
			wantCode(t, r.run("--url", sim.PlainURL(), "--model", councilsim.DefaultModel, "--gpu", "required"), 0)
		})
	}
}

// --gpu: a host without a GPU (Ollama reports size_vram 0 for every
// model) is not warned about every tick by default; a model that loses
// GPU memory it had on this host is; required warns whenever a model is
// not all in GPU memory, off never. Before, the guardian warned
// model_on_cpu every 30 s on a CPU-only host.
func TestGPUModes(t *testing.T) {
	model := []string{"--model", councilsim.DefaultModel}
	t.Run("cpu-only host, auto", func(t *testing.T) {
		r := newRig(t)
		sim := simWith(r, councilsim.PersonalityOllama, councilsim.BackendFaultCPUOnly)
		for range 2 {
			wantCode(t, r.run(append([]string{"--url", sim.PlainURL()}, model...)...), 0)
		}
		none(t, r.events(), guardian.CheckModelOnCPU)
	})
	t.Run("cpu-only host, required", func(t *testing.T) {
		r := newRig(t)
		sim := simWith(r, councilsim.PersonalityOllama, councilsim.BackendFaultCPUOnly)
		wantCode(t, r.run(append([]string{"--url", sim.PlainURL(), "--gpu", "required"}, model...)...), 1)
		ev := one(t, r.events(), guardian.CheckModelOnCPU, guardian.CheckModelOnCPU)
		if d, _ := ev["detail"].(string); !strings.Contains(d, "entirely on CPU (0 of ") {
			t.Errorf("detail %q: want it said entirely on CPU", ev["detail"])
		}
	})
	t.Run("off", func(t *testing.T) {
		r := newRig(t)
		sim := simWith(r, councilsim.PersonalityOllama, councilsim.BackendFaultOnCPU)
		wantCode(t, r.run(append([]string{"--url", sim.PlainURL(), "--gpu", "off"}, model...)...), 0)
		none(t, r.events(), guardian.CheckModelOnCPU)
	})
	t.Run("auto: less in GPU memory than before on this host", func(t *testing.T) {
		r := newRig(t)
		sim := simWith(r, councilsim.PersonalityOllama, councilsim.BackendFaultNone)
		wantCode(t, r.run(append([]string{"--url", sim.PlainURL()}, model...)...), 0)
		if err := sim.SetBackendFault(councilsim.BackendFaultOnCPU, 0); err != nil {
			t.Fatal(err)
		}
		wantCode(t, r.run(append([]string{"--url", sim.PlainURL()}, model...)...), 1)
		ev := one(t, r.events(), guardian.CheckModelOnCPU, guardian.CheckModelOnCPU)
		if d, _ := ev["detail"].(string); !strings.Contains(d, "only partly in GPU memory") || !strings.Contains(d, "it had 100% of itself there before on this host") {
			t.Errorf("detail %q", ev["detail"])
		}
		if err := sim.SetBackendFault(councilsim.BackendFaultNone, 0); err != nil {
			t.Fatal(err)
		}
		wantCode(t, r.run(append([]string{"--url", sim.PlainURL()}, model...)...), 0)
	})
	t.Run("bad mode", func(t *testing.T) {
		r := newRig(t)
		sim := simWith(r, councilsim.PersonalityOllama, councilsim.BackendFaultNone)
		wantCode(t, r.run("--url", sim.PlainURL(), "--gpu", "sometimes"), 3)
	})
}

// Without --model the guardian checks the models the server lists as
// loaded (an empty --model stands for the server's own): one that lost its
// GPU memory, or is about to be unloaded, is reported. Before, an empty
// --model checked no residency at all.
func TestResidencyWithoutModel(t *testing.T) {
	r := newRig(t)
	sim := simWith(r, councilsim.PersonalityOllama, councilsim.BackendFaultNone)
	wantCode(t, r.run("--url", sim.PlainURL()), 0)
	if err := sim.SetBackendFault(councilsim.BackendFaultOnCPU, 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, r.run("--url", sim.PlainURL()), 1)
	if ev := one(t, r.events(), guardian.CheckModelOnCPU, guardian.CheckModelOnCPU); ev["model"] != councilsim.DefaultModel {
		t.Errorf("model_on_cpu %v: want the loaded model named", ev)
	}
	if err := sim.SetBackendFault(councilsim.BackendFaultExpiring, 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, r.run("--url", sim.PlainURL()), 0)
	one(t, r.events(), guardian.CheckModelUnloading, guardian.CheckModelUnloading)
	// Nothing expected, so nothing is missing: an unloaded model is no warning.
	if err := sim.SetBackendFault(councilsim.BackendFaultUnloaded, 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, r.run("--url", sim.PlainURL()), 0)
	none(t, r.events(), guardian.CheckModelNotLoaded)
}

// "The model must be listed in /v1/models" is the generic backend's rule
// only: Ollama lists downloads there, and says itself what is loaded.
func TestListedModelRuleOnlyForGeneric(t *testing.T) {
	r := newRig(t)
	generic := simWith(r, councilsim.PersonalityGeneric, "")
	res := r.run("--url", generic.PlainURL(), "--model", "ghost-70b")
	wantCode(t, res, 1)
	if ev := one(t, r.events(), "probe_fail", "unreachable"); ev["reason"] != "model_missing" {
		t.Errorf("generic: probe_fail = %v, want model_missing", ev)
	}

	r = newRig(t)
	ollama := simWith(r, councilsim.PersonalityOllama, "")
	res = r.run("--url", ollama.PlainURL(), "--model", "ghost-70b")
	wantCode(t, res, 1)
	evs := r.events()
	none(t, evs, "probe_fail")
	if ev := one(t, evs, guardian.CheckModelNotLoaded, guardian.CheckModelNotLoaded); !strings.Contains(ev["detail"].(string), "not listed") {
		t.Errorf("ollama: %v", ev)
	}
}

func countEvents(evs []map[string]any, event string) int {
	n := 0
	for _, e := range evs {
		if e["event"] == event {
			n++
		}
	}
	return n
}

func firstEvent(evs []map[string]any, event string) map[string]any {
	for _, e := range evs {
		if e["event"] == event {
			return e
		}
	}
	return nil
}

// The server's load goes to the textfile, labelled by backend; a series
// the server does not export is absent.
func TestServerMetricsInTextfile(t *testing.T) {
	r := newRig(t)
	sim := simWith(r, councilsim.PersonalityVLLM, councilsim.BackendFaultKVFull)
	dir := t.TempDir()
	wantCode(t, r.run("--url", sim.PlainURL(), "--metrics-dir", dir), 0)
	data, err := os.ReadFile(filepath.Join(dir, "council_guardian.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`council_backend_kv_cache_usage_ratio{probe="guardian",backend="vllm"} 1`,
		`council_backend_requests_waiting{probe="guardian",backend="vllm"} 3`,
		`council_backend_requests_running{probe="guardian",backend="vllm"} 4`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("textfile lacks %s:\n%s", want, data)
		}
	}

	r = newRig(t)
	llama := simWith(r, councilsim.PersonalityLlamaServer, "")
	wantCode(t, r.run("--url", llama.PlainURL(), "--metrics-dir", dir), 0)
	data, _ = os.ReadFile(filepath.Join(dir, "council_guardian.prom"))
	if !strings.Contains(string(data), `council_backend_requests_running{probe="guardian",backend="llama-server"} 0`) ||
		strings.Contains(string(data), "council_backend_kv_cache_usage_ratio") {
		t.Errorf("llama-server textfile: want running 0 and no KV ratio:\n%s", data)
	}
}

// A restart drops the cached detection: the server that comes back may be
// another one, so the next tick detects again.
func TestRestartForgetsTheDetectedBackend(t *testing.T) {
	r := newRig(t)
	sim := r.loadPrimary(false)
	wantCode(t, r.run("--url", sim.URL), 0)
	cache := filepath.Join(r.h.StateDir, backend.CacheFile)
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no detection cached after a tick: %v", err)
	}
	r.kill(sim)
	for i := 0; i < 3; i++ {
		r.run("--url", sim.URL)
	}
	if len(probetest.Find(r.events(), "restarting", "unreachable")) == 0 {
		t.Fatalf("no restart:\n%s", dump(r.events()))
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("the detection cache survived the restart: %v", err)
	}
}

// The restart's heal check is the tick's own rule: on Ollama a --model that
// is downloaded-but-not-listed does not make a good restart "unverified".
func TestRestartVerifiedByTheBackendsRule(t *testing.T) {
	r := newRig(t)
	port := probetest.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	pidFile := filepath.Join(r.h.Dir, "primary.pid")
	args := append(r.simArgs(port, 0, r.primaryLog(), pidFile), "--personality", "ollama")
	writePlist(t, r.primaryPlist(), plistOpts{label: primaryLabel, args: args, runAtLoad: boolp(true)})
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", os.Getuid()), r.primaryPlist())
	r.waitServing(url)
	model := []string{"--url", url, "--model", "ghost-70b", "--busy-window", "0"}

	// Detected as Ollama; the model is not loaded: a warning, no failure.
	wantCode(t, r.run(model...), 1)
	one(t, r.events(), guardian.CheckModelNotLoaded, guardian.CheckModelNotLoaded)

	r.kill(launchedSim{URL: url, PIDFile: pidFile, Plist: r.primaryPlist()})
	for i := 0; i < 3; i++ {
		r.run(model...)
	}
	if len(probetest.Find(r.events(), "restart_verified", "restart_unverified")) == 0 {
		t.Fatalf("the restart was not verified by Ollama's rule:\n%s", dump(r.events()))
	}
	// A server that refused the connection was not asked about itself.
	none(t, r.events(), "backend_unanswered")
}

// A server that is down cannot say what it is: with --backend auto the
// guardian's events say backend=unknown, not generic (the tick still runs
// by the generic rules). Before, they said generic.
func TestDownServerIsUnknownBackend(t *testing.T) {
	r := newRig(t)
	wantCode(t, r.run("--url", deadURL(t)), 1)
	ev := one(t, r.events(), "probe_fail", "unreachable")
	if ev["backend"] != "unknown" {
		t.Errorf("probe_fail backend = %v, want unknown", ev["backend"])
	}
	one(t, r.events(), "backend_detect_failed", "")
}
