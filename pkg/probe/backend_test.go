package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// A network probe detects the backend once, caches it in the state dir,
// and names it in every event.
func TestBackendDetectedCachedAndInEveryEvent(t *testing.T) {
	e := newEnv(t)
	sim := councilsim.New(councilsim.Config{Personality: councilsim.PersonalityConfig{Personality: councilsim.PersonalityOllama}})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)

	if code, out := e.run(t, testProbe(true), "--url", sim.PlainURL()); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	evs := e.events(t)
	if ev := find(evs, "backend_detected"); ev == nil || !strings.Contains(ev["evidence"].(string), "/api/ps") {
		t.Fatalf("no backend_detected event with evidence: %v", evs)
	}
	for _, ev := range evs {
		if ev["backend"] != "ollama" {
			t.Errorf("event %v lacks backend=ollama", ev["event"])
		}
	}
	cached, err := backend.LoadCache(filepath.Join(e.stateDir, backend.CacheFile))
	if err != nil || cached.Kind != backend.Ollama || cached.URL != sim.PlainURL() {
		t.Fatalf("cache = %+v, %v", cached, err)
	}

	// The second tick uses the cache: no new detection.
	os.Remove(e.logFile)
	if code, out := e.run(t, testProbe(true), "--url", sim.PlainURL()); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	evs = e.events(t)
	if find(evs, "backend_detected") != nil {
		t.Error("detected again despite a fresh cache")
	}
	if ev := find(evs, "probe_ok"); ev == nil || ev["backend"] != "ollama" {
		t.Errorf("probe_ok = %v, want backend=ollama from the cache", ev)
	}
}

func TestBackendFlagAndEnv(t *testing.T) {
	e := newEnv(t)
	sim := councilsim.New(councilsim.Config{})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)

	t.Setenv("COUNCIL_BACKEND", "llama-server")
	if code, out := e.run(t, testProbe(true), "--url", sim.PlainURL(), "--log-file", "-"); code != ExitOK || !strings.Contains(out, `"backend":"llama-server"`) {
		t.Fatalf("COUNCIL_BACKEND=llama-server: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, backend.CacheFile)); !os.IsNotExist(err) {
		t.Errorf("a configured backend was cached: %v", err)
	}
	code, out := e.run(t, testProbe(true), "--url", sim.PlainURL(), "--backend", "llamacpp", "--log-file", "-")
	if code != ExitUnknown || !strings.Contains(out, `unknown backend \"llamacpp\"`) {
		t.Fatalf("--backend llamacpp: exit %d, want UNKNOWN naming the value\n%s", code, out)
	}
}
