package backend_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

func TestResolveCachesForADay(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	sim, c := startPersonality(t, councilsim.PersonalityVLLM, "", nil)

	r := backend.Resolve(ctx(t), backend.Auto, c, dir, now)
	if r.Kind != backend.VLLM || r.Cached || r.DetectError != "" || r.Label() != backend.VLLM {
		t.Fatalf("first Resolve = %+v, want a fresh vllm detection", r)
	}
	// With the server gone, the cache still answers for a day...
	sim.Close()
	if r := backend.Resolve(ctx(t), backend.Auto, c, dir, now.Add(23*time.Hour)); r.Kind != backend.VLLM || !r.Cached {
		t.Fatalf("Resolve within a day = %+v, want the cached vllm", r)
	}
	// ...then detection runs again; failing, the tick is generic and says why.
	r = backend.Resolve(ctx(t), backend.Auto, c, dir, now.Add(25*time.Hour))
	if r.Kind != backend.Generic || r.Cached || r.DetectError == "" {
		t.Fatalf("Resolve after a day = %+v, want generic with the detection error", r)
	}
	// Generic for the rules, unknown by name: a server that is down is
	// not a generic server.
	if r.Label() != backend.KindUnknown {
		t.Errorf("Label = %s, want unknown", r.Label())
	}
	// The failure is not cached: the old detection is still there to
	// expire, not replaced by a guess.
	if cached, err := backend.LoadCache(dir + "/" + backend.CacheFile); err != nil || cached.Kind != backend.VLLM {
		t.Errorf("cache after a failed detection = %+v, %v", cached, err)
	}
}

func TestResolveRedetectsOnURLChangeAndForget(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	_, cv := startPersonality(t, councilsim.PersonalityVLLM, "", nil)
	_, co := startPersonality(t, councilsim.PersonalityOllama, "", nil)
	if r := backend.Resolve(ctx(t), backend.Auto, cv, dir, now); r.Kind != backend.VLLM {
		t.Fatalf("%+v", r)
	}
	if r := backend.Resolve(ctx(t), backend.Auto, co, dir, now); r.Kind != backend.Ollama || r.Cached {
		t.Fatalf("another URL: %+v, want a fresh ollama detection", r)
	}
	if err := backend.Forget(dir); err != nil {
		t.Fatal(err)
	}
	if r := backend.Resolve(ctx(t), backend.Auto, co, dir, now); r.Cached {
		t.Fatalf("after Forget: %+v, want a fresh detection", r)
	}
	if err := backend.Forget(dir); err != nil {
		t.Errorf("Forget of nothing: %v", err)
	}
	if r := backend.Resolve(ctx(t), backend.LMStudio, co, dir, now); r.Kind != backend.LMStudio || !r.Configured {
		t.Errorf("configured: %+v", r)
	}
}

// "generic" is the absence of evidence: trusted for an hour, not a day.
func TestResolveTrustsGenericForAnHour(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	_, c := startPersonality(t, councilsim.PersonalityGeneric, "", nil)
	if r := backend.Resolve(ctx(t), backend.Auto, c, dir, now); r.Kind != backend.Generic || r.Cached {
		t.Fatalf("%+v", r)
	}
	if r := backend.Resolve(ctx(t), backend.Auto, c, dir, now.Add(59*time.Minute)); !r.Cached {
		t.Errorf("within the hour: %+v, want cached", r)
	}
	if r := backend.Resolve(ctx(t), backend.Auto, c, dir, now.Add(61*time.Minute)); r.Cached {
		t.Errorf("after the hour: %+v, want a fresh detection", r)
	}
}

// TestResolveRedetectsADetectionFromTheFuture: a cached detection dated
// after now (a clock stepped back) is not trusted until then: the server
// is detected again, and the cache dated now.
func TestResolveRedetectsADetectionFromTheFuture(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	_, c := startPersonality(t, councilsim.PersonalityVLLM, "", nil)
	b, _ := json.Marshal(backend.Cached{Detection: backend.Detection{Kind: backend.Ollama, Evidence: "planted"}, URL: c.BaseURL,
		DetectedAt: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err := os.WriteFile(filepath.Join(dir, backend.CacheFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := backend.Resolve(ctx(t), backend.Auto, c, dir, now); r.Kind != backend.VLLM || r.Cached {
		t.Fatalf("Resolve = %+v, want a fresh vllm detection", r)
	}
	if cached, err := backend.LoadCache(filepath.Join(dir, backend.CacheFile)); err != nil || !cached.DetectedAt.Equal(now) {
		t.Errorf("cache %+v, %v: want it dated now", cached, err)
	}
}
